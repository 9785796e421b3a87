/// Layout problems, each with where it is (file, line, column, JSON path) and what was expected.

/// A path into a JSON document, printed as `presets[2].zones[0].rect.width`.
public struct JSONPath: Hashable, Sendable, CustomStringConvertible {
    public enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }
    public var components: [Component]
    public init(_ components: [Component] = []) { self.components = components }
    public static let root = JSONPath()

    public func appending(_ key: String) -> JSONPath { JSONPath(components + [.key(key)]) }
    public func appending(_ index: Int) -> JSONPath { JSONPath(components + [.index(index)]) }

    public var description: String {
        if components.isEmpty { return "(root)" }
        var out = ""
        for c in components {
            switch c {
            case .key(let k): out += out.isEmpty ? k : "." + k
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }
}

public struct LayoutDiagnostic: Hashable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var path: JSONPath
    public var message: String
    public init(location: SourceLocation, path: JSONPath, message: String) {
        self.location = location; self.path = path; self.message = message
    }
    /// `line:column: path: message` (the file name is added by `LayoutError`).
    public var description: String { "\(location): \(path): \(message)" }
}

/// Every problem found in one layout file. Its description is one line per problem,
/// `file:line:column: json.path: message`, in file order.
public struct LayoutError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var diagnostics: [LayoutDiagnostic]
    public init(file: String, diagnostics: [LayoutDiagnostic]) {
        self.file = file
        self.diagnostics = diagnostics.sorted { ($0.location, $0.path.description) < ($1.location, $1.path.description) }
    }
    public var lines: [String] { diagnostics.map { "\(file):\($0)" } }
    public var description: String { lines.joined(separator: "\n") }
}

/// Collects diagnostics while a document is read, and remembers where each path is so that
/// checks made after decoding can point at the right line.
final class DiagnosticSink {
    private(set) var diagnostics: [LayoutDiagnostic] = []
    /// Allowed, but almost certainly not what the author meant; `tessera validate` prints them and
    /// still succeeds. Each message starts with "warning: ".
    private(set) var warnings: [LayoutDiagnostic] = []
    private(set) var locations: [JSONPath: SourceLocation] = [:]
    private var seen = Set<LayoutDiagnostic>()

    func report(_ message: String, at location: SourceLocation, path: JSONPath) {
        let d = LayoutDiagnostic(location: location, path: path, message: message)
        if seen.insert(d).inserted { diagnostics.append(d) }
    }

    /// Reports at the recorded location of `path` (or of its nearest recorded ancestor).
    func report(_ message: String, path: JSONPath) {
        report(message, at: location(of: path), path: path)
    }

    func warn(_ message: String, path: JSONPath) {
        warnings.append(LayoutDiagnostic(location: location(of: path), path: path, message: "warning: " + message))
    }

    /// The recorded location of `path`, or of its nearest recorded ancestor.
    func location(of path: JSONPath) -> SourceLocation {
        var p = path
        while locations[p] == nil && !p.components.isEmpty { p.components.removeLast() }
        return locations[p] ?? SourceLocation(line: 1, column: 1)
    }

    func record(_ path: JSONPath, _ location: SourceLocation) { locations[path] = location }
}
