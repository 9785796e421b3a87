import Foundation

/// A secret the wall (or an admin) presents to the backend. Read from a file or an environment
/// variable only, never from a command line or a URL; its description is redacted so it cannot
/// reach a log line by accident.
public struct SignalToken: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Source: Hashable, Sendable, CustomStringConvertible {
        case file(String)
        case environment(String)
        /// For tests and in-process use.
        case value(String)

        public var description: String {
            switch self {
            case .file(let path): "file \(path)"
            case .environment(let name): "environment variable \(name)"
            case .value: "a value given in code"
            }
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var source: Source
        public var reason: String
        public var description: String { "cannot read the token from \(source): \(reason)" }
    }

    public let secret: String

    public init(secret: String) { self.secret = secret }

    /// Reads the token, trimming surrounding whitespace (a trailing newline in a file is usual).
    /// Files are re-read on each call, so a rotated token is picked up at the next reconnect.
    public static func load(from source: Source) throws(LoadError) -> SignalToken {
        let raw: String
        switch source {
        case .file(let path):
            do { raw = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw LoadError(source: source, reason: "\(error.localizedDescription)")
            }
        case .environment(let name):
            guard let v = ProcessInfo.processInfo.environment[name] else {
                throw LoadError(source: source, reason: "not set")
            }
            raw = v
        case .value(let v):
            raw = v
        }
        let secret = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw LoadError(source: source, reason: "empty") }
        guard secret.utf8.count <= 4096 else { throw LoadError(source: source, reason: "longer than 4096 bytes") }
        return SignalToken(secret: secret)
    }

    public var description: String { "SignalToken(<redacted>)" }
    public var debugDescription: String { description }

    /// Compares without an early exit, so response timing does not reveal how much matched.
    public func matches(_ candidate: String) -> Bool {
        let a = Array(secret.utf8), b = Array(candidate.utf8)
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}
