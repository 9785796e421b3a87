/// Stream URLs numbered by participant: `{n}` becomes the participant number n, `{n+K}` becomes
/// n + K (K a non-negative integer), so `udp://127.0.0.1:{n+20000}` gives participant 7 port
/// 20007. Anything else in braces is left as it is. One definition for every command that takes
/// a template (`tessera run --stream-url-template`, `tessera testsrc --count`).
public enum URLTemplate {
    public static func expand(_ template: String, n: Int) -> String {
        var out = ""
        var rest = template[...]
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "}"), let value = value(of: rest[afterOpen..<close], n: n) else {
                out.append("{")
                rest = rest[afterOpen...]
                continue
            }
            out += String(value)
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// Whether `template` has a placeholder, i.e. gives different participants different URLs.
    public static func isNumbered(_ template: String) -> Bool { expand(template, n: 1) != expand(template, n: 2) }

    /// `n` or `n+K` → its value; anything else → nil.
    private static func value(of placeholder: Substring, n: Int) -> Int? {
        if placeholder == "n" { return n }
        guard placeholder.hasPrefix("n+") else { return nil }
        let k = placeholder.dropFirst(2)
        guard !k.isEmpty, k.allSatisfy(\.isASCII), k.allSatisfy(\.isNumber), let offset = Int(k) else { return nil }
        return n + offset
    }
}
