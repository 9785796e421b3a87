/// Typed reading of a `JSONNode` that reports every mismatch instead of stopping at the first.
/// Readers return nil for a value that is wrong (after reporting it) so decoding can go on and find
/// the next problem.

struct NodeReader {
    let node: JSONNode
    let path: JSONPath
    let sink: DiagnosticSink

    init(node: JSONNode, path: JSONPath, sink: DiagnosticSink) {
        self.node = node; self.path = path; self.sink = sink
        sink.record(path, node.location)
    }

    func fail(_ expected: String) {
        sink.report("expected \(expected), got \(node.summary)", at: node.location, path: path)
    }

    func problem(_ message: String) { sink.report(message, at: node.location, path: path) }

    func string(_ expected: String = "a string") -> String? {
        if case .string(let s) = node.value { return s }
        fail(expected)
        return nil
    }

    /// A string that must match `isValid`; `expected` describes the form in the error.
    func string(matching isValid: (String) -> Bool, expected: String) -> String? {
        guard case .string(let s) = node.value, isValid(s) else { fail(expected); return nil }
        return s
    }

    func oneOf<T>(_ table: [(String, T)]) -> T? {
        let names = table.map { "\"\($0.0)\"" }
        let expected = names.count == 1 ? names[0] : "one of " + names.joined(separator: ", ")
        if case .string(let s) = node.value, let hit = table.first(where: { $0.0 == s }) { return hit.1 }
        fail(expected)
        return nil
    }

    func bool() -> Bool? {
        if case .bool(let b) = node.value { return b }
        fail("true or false")
        return nil
    }

    /// An integer within `range` (every integer of the format has one: `LayoutLimits`).
    func int(_ range: ClosedRange<Int>) -> Int? {
        let expected = "an integer from \(range.lowerBound) to \(range.upperBound)"
        guard case .number(let text) = node.value, let v = Int(text) else { fail(expected); return nil }
        guard range.contains(v) else { fail(expected); return nil }
        return v
    }

    /// A finite number within `range`, or above its lower bound when `lowerExclusive`.
    func number(_ range: ClosedRange<Double>, unit: String = "") -> Double? {
        let expected = "a number from \(format(range.lowerBound)) to \(format(range.upperBound))\(unit)"
        guard case .number(let text) = node.value, let v = Double(text), v.isFinite else { fail(expected); return nil }
        guard range.contains(v) else { fail(expected); return nil }
        return v
    }

    private func format(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }

    func array(minCount: Int = 0, maxCount: Int, of what: String = "items") -> [NodeReader]? {
        guard case .array(let items) = node.value else { fail("an array of \(what)"); return nil }
        if items.count < minCount {
            problem("expected at least \(minCount) \(minCount == 1 ? String(what.dropLast()) : what), got an empty array")
        }
        if items.count > maxCount {
            problem("expected at most \(maxCount) \(what), got \(items.count)")
            return nil
        }
        return items.enumerated().map { NodeReader(node: $1, path: path.appending($0), sink: sink) }
    }

    /// Opens an object whose keys must come from `allowed`. Unknown keys (with a suggestion for
    /// near-misses) and duplicate keys are reported here.
    func object(_ what: String = "an object", allowed: [String]) -> ObjectReader? {
        guard case .object(let members) = node.value else { fail(what); return nil }
        var fields: [String: NodeReader] = [:]
        for m in members {
            let childPath = path.appending(m.key)
            if m.key == "$schema" && path.components.isEmpty { continue }
            guard allowed.contains(m.key) else {
                var message = "unknown key \"\(m.key)\""
                if let guess = closest(to: m.key, in: allowed) { message += "; did you mean \"\(guess)\"?" }
                else { message += "; allowed here: " + allowed.joined(separator: ", ") }
                sink.report(message, at: m.keyLocation, path: childPath)
                continue
            }
            if fields[m.key] != nil {
                sink.report("duplicate key \"\(m.key)\"; each key may appear once", at: m.keyLocation, path: childPath)
                continue
            }
            fields[m.key] = NodeReader(node: m.value, path: childPath, sink: sink)
        }
        return ObjectReader(node: self, fields: fields)
    }
}

struct ObjectReader {
    let node: NodeReader
    let fields: [String: NodeReader]

    subscript(key: String) -> NodeReader? { fields[key] }

    /// The field, or a "missing required key" problem at the object.
    func required(_ key: String, _ expected: String) -> NodeReader? {
        if let f = fields[key] { return f }
        node.problem("missing required key \"\(key)\" (\(expected))")
        return nil
    }
}

/// The allowed key nearest to a typo, when it is near enough to be a likely slip.
func closest(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(1, min(word.count, best.0.count) / 3) ? best.0 : nil
}

/// Edit distance counting insertions, deletions, substitutions and swaps of neighbours.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var beforePrevious = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            // Two neighbouring letters swapped ("mdoe") is one slip, not two.
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                current[j] = min(current[j], beforePrevious[j - 2] + 1)
            }
        }
        (beforePrevious, previous, current) = (previous, current, beforePrevious)
    }
    return previous[b.count]
}
