import ArgumentParser

/// The kiosk's subcommands (`run`, `doctor`), listed first in `tessera --help`.
let kioskCommands: [any ParsableCommand.Type] = []
