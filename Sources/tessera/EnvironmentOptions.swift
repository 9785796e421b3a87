import Foundation

/// `tessera run`'s options from the environment, so that the systemd unit keeps one command line and
/// `/etc/tessera/tessera.env` says where the room comes from: a backend (`TESSERA_SIGNAL_URL`,
/// `TESSERA_ROOM`) or a local room without one (`TESSERA_PARTICIPANTS`,
/// `TESSERA_STREAM_URL_TEMPLATE`), and which renderer draws.
///
/// Rules: a variable counts only when it is set and not empty (so `TESSERA_SIGNAL_URL=` means "no
/// backend"); an option given on the command line wins; only `run` reads them. The value goes to
/// ArgumentParser like a typed one, so it is checked the same way.
enum EnvironmentOptions {
    /// Variable → the `run` option it stands for. The repeatable ones (`TESSERA_ALLOW_SCHEME`,
    /// `TESSERA_ALLOW_HOST`) take values separated by spaces.
    static let table: [(variable: String, option: String)] = [
        ("TESSERA_SIGNAL_URL", "--signal"),
        ("TESSERA_ROOM", "--room"),
        ("TESSERA_WALL_ID", "--wall-id"),
        ("TESSERA_PARTICIPANTS", "--participants"),
        ("TESSERA_STREAM_URL_TEMPLATE", "--stream-url-template"),
        ("TESSERA_RENDERER", "--renderer"),
        ("TESSERA_ALLOW_SCHEME", "--allow-scheme"),
        ("TESSERA_ALLOW_HOST", "--allow-host"),
        ("TESSERA_LOG_LEVEL", "--log-level"),
        ("TESSERA_PROGRESS", "--progress"),
    ]

    static let repeatable: Set<String> = ["TESSERA_ALLOW_SCHEME", "TESSERA_ALLOW_HOST"]

    struct Applied: Equatable {
        var arguments: [String]
        /// The variables that were used, in table order (names only: values may hold credentials).
        var variables: [String]
    }

    /// `arguments` without the executable's name.
    static func apply(to arguments: [String], environment: [String: String]) -> Applied {
        guard arguments.first == "run" else { return Applied(arguments: arguments, variables: []) }
        var result = arguments
        var used: [String] = []
        for (variable, option) in table {
            guard let raw = environment[variable] else { continue }
            let value = raw.trimmingCharacters(in: .whitespaces)
            if value.isEmpty || given(option, in: arguments) { continue }
            if repeatable.contains(variable) {
                for item in value.split(separator: " ", omittingEmptySubsequences: true) { result += [option, String(item)] }
            } else {
                result += [option, value]
            }
            used.append(variable)
        }
        return Applied(arguments: result, variables: used)
    }

    /// Whether the command line names `option` (`--x v` or `--x=v`); everything after `--` is not an option.
    private static func given(_ option: String, in arguments: [String]) -> Bool {
        for argument in arguments {
            if argument == "--" { return false }
            if argument == option || argument.hasPrefix(option + "=") { return true }
        }
        return false
    }
}
