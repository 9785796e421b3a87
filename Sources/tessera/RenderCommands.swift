import ArgumentParser

/// The rendering and output part's subcommands (`preview`, `outputs`), listed in `tessera --help`.
let renderCommands: [any ParsableCommand.Type] = []
