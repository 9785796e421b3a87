/// The one place secrets are taken out of text before it is logged, counted, reported or printed.
///
/// Stream URLs come from the network and may carry credentials (`rtsp://user:pass@cam/…`) or
/// secrets in their query (`srt://host:9000?passphrase=…`, `…?token=…`), and FFmpeg's own
/// messages and option strings repeat them. Every log line, metric label, error description,
/// backend report and `tessera probe` output that can hold a URL goes through `Redact.text`.
public enum Redact {
    /// Parameter names whose values are secrets (compared without case): in URL queries, FFmpeg
    /// option strings (`passphrase=…`) and `key=value` lists.
    public static let secretNames: Set<String> = [
        "passphrase", "password", "passwd", "pass", "pwd", "token", "access_token", "auth_token", "auth",
        "authorization", "key", "apikey", "api_key", "secret", "client_secret", "sig", "signature",
        "credential", "credentials", "session", "sessionid", "srtp_in_params", "srtp_out_params",
    ]

    /// What replaces a secret.
    public static let mask = "***"

    /// `text` with the user information of every URL in it (`scheme://user:pass@host` →
    /// `scheme://***@host`) and the value of every secret parameter (`passphrase=x` →
    /// `passphrase=***`) replaced. Text without secrets comes back unchanged.
    public static func text(_ text: String) -> String {
        guard text.contains("@") || text.contains("=") else { return text }
        var out = Array(text.unicodeScalars)
        out = userinfoMasked(out)
        out = parametersMasked(out)
        var s = String.UnicodeScalarView()
        s.append(contentsOf: out)
        return String(s)
    }

    /// Characters that end a URL's authority or a parameter value in running text.
    private static func endsToken(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || "\"'<>()[]{}|\\^`,;".unicodeScalars.contains(c)
    }

    private static func userinfoMasked(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if i + 2 < s.count, s[i] == ":", s[i + 1] == "/", s[i + 2] == "/" {
                out.append(contentsOf: s[i...(i + 2)])
                i += 3
                var end = i
                while end < s.count, s[end] != "/", s[end] != "?", s[end] != "#", !endsToken(s[end]) { end += 1 }
                if let at = s[i..<end].lastIndex(of: "@") {
                    out.append(contentsOf: mask.unicodeScalars)
                    i = at
                }
                continue
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    private static func isNameCharacter(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "-" || c == "."
    }

    private static func parametersMasked(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            guard s[i] == "=" else { out.append(s[i]); i += 1; continue }
            // The name: letters, digits, '_', '-' and '.' right before the '='.
            var start = out.count
            while start > 0, isNameCharacter(out[start - 1]) { start -= 1 }
            let name = String(String.UnicodeScalarView(out[start...])).lowercased()
            out.append("=")
            i += 1
            guard secretNames.contains(name) else { continue }
            var end = i
            while end < s.count, s[end] != "&", !endsToken(s[end]) { end += 1 }
            if end > i { out.append(contentsOf: mask.unicodeScalars) }
            i = end
        }
        return out
    }
}
