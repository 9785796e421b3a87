import ArgumentParser

/// The media part's subcommands (`testsrc`, `probe`), listed in `tessera --help`.
let mediaCommands: [any ParsableCommand.Type] = []
