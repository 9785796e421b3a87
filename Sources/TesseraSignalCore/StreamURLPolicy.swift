import Foundation

/// The roster-side gate for stream URLs: which schemes (and optionally hosts) the wall accepts from
/// the backend. A layer whose URL fails it is dropped from the wall's room, so Media never sees it.
/// Media keeps its own opening policy (protocol_whitelist, timeouts); this is the first of the two.
public struct StreamURLPolicy: Hashable, Sendable {
    /// Lower-case schemes. `udp` and `rtp` belong here only on a trusted LAN.
    public var allowedSchemes: Set<String>
    /// Lower-case host names or addresses; nil allows any host.
    public var allowedHosts: Set<String>?
    /// Longest URL accepted, in bytes.
    public var maxLength: Int

    public init(allowedSchemes: Set<String> = ["rtsp", "rtsps", "srt"], allowedHosts: Set<String>? = nil,
                maxLength: Int = 2048) {
        self.allowedSchemes = Set(allowedSchemes.map { $0.lowercased() })
        self.allowedHosts = allowedHosts.map { Set($0.map { $0.lowercased() }) }
        self.maxLength = maxLength
    }

    /// Why a URL was refused. Its description names the scheme and host only: URLs may carry
    /// credentials, so the whole URL is never logged or sent back.
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public func check(_ url: String) -> Refusal? {
        guard url.utf8.count <= maxLength else { return Refusal(reason: "URL longer than \(maxLength) bytes") }
        guard let colon = url.firstIndex(of: ":") else { return Refusal(reason: "URL has no scheme") }
        let scheme = url[..<colon].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return Refusal(reason: "URL has no valid scheme") }
        guard allowedSchemes.contains(scheme) else {
            return Refusal(reason: "scheme \"\(scheme)\" is not allowed (allowed: \(allowedSchemes.sorted().joined(separator: ", ")))")
        }
        guard url.allSatisfy({ !$0.isWhitespace && !($0.asciiValue.map { $0 < 0x20 || $0 == 0x7f } ?? false) }) else {
            return Refusal(reason: "\(scheme) URL contains whitespace or control characters")
        }
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            return Refusal(reason: "\(scheme) URL has no host")
        }
        if let allowedHosts, !allowedHosts.contains(host.lowercased()) {
            return Refusal(reason: "host \"\(host)\" is not allowed for \(scheme)")
        }
        return nil
    }
}
