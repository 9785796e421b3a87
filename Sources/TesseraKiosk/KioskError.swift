/// Why the kiosk cannot start, each with what to do about it.
public enum KioskError: Error, CustomStringConvertible {
    /// The layout file is invalid: its problems, as `tessera validate` prints them.
    case layout(path: String, lines: [String])
    case unavailable(String)
    case output(id: String, reason: String)

    public var description: String {
        switch self {
        case .layout(let path, let lines):
            (lines + ["\(path) is not a valid layout; fix the lines above (`tessera validate \(path)` checks it again)"]).joined(separator: "\n")
        case .unavailable(let s): s
        case .output(let id, let reason): "output \(id) could not start: \(reason)"
        }
    }
}
