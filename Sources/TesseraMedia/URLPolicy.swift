import TesseraCore

/// Which stream URLs Media may hand to libavformat, and how each is opened.
///
/// A URL from the network is never passed raw to `avformat_open_input`: its scheme must be one of
/// `allowedSchemes`, its host one of `allowedHosts` (when set), and the open itself is fenced by a
/// `protocol_whitelist` and `format_whitelist` for that scheme, so an RTSP server cannot redirect
/// into `file:` and a "stream" cannot be an HLS playlist that reads local files. Local files
/// (`file:` or an absolute path) are allowed only for URLs from local configuration.
public struct URLPolicy: Hashable, Sendable {
    /// Schemes that may be opened at all.
    public var allowedSchemes: Set<String> = ["rtsp", "rtsps", "srt", "udp", "rtp", "tcp", "rtmp"]
    /// Hosts a network URL may name: exact names or addresses, or `.example.org` for a domain and
    /// its subdomains. `nil` allows any host (a trusted LAN).
    public var allowedHosts: Set<String>? = nil
    /// Whether URLs from local configuration may name local files (clips, slates, SDP files).
    public var allowFilesFromLocalConfig = true

    /// Schemes (FFmpeg protocol names) that are never opened, whatever the configuration says:
    /// they read local files, run other protocols inside them, or fetch playlists.
    public static let forbiddenSchemes: Set<String> = [
        "file", "concat", "concatf", "subfile", "data", "pipe", "fd", "http", "https", "httpproxy",
        "hls", "crypto", "cache", "async", "ftp", "gopher", "gophers", "sftp", "smb", "tee", "md5",
        "ipfs", "ipns", "unix", "android_content", "libssh", "mmsh", "mmst", "icecast", "prompeg",
    ]

    public init(allowedSchemes: Set<String>? = nil, allowedHosts: Set<String>? = nil, allowFilesFromLocalConfig: Bool = true) {
        if let allowedSchemes { self.allowedSchemes = Set(allowedSchemes.map { $0.lowercased() }) }
        self.allowedHosts = allowedHosts.map { Set($0.map { $0.lowercased() }) }
        self.allowFilesFromLocalConfig = allowFilesFromLocalConfig
    }

    /// Checks `url` and says how to open it; throws `.refused` with the reason otherwise.
    public func check(_ url: String, origin: StreamOrigin) throws(MediaError) -> CheckedURL {
        func refuse(_ reason: String) -> MediaError { .refused(url: url, reason: reason) }
        if url.isEmpty { throw refuse("the URL is empty") }
        if url.utf8.count > 4096 { throw refuse("the URL is longer than 4096 bytes") }
        if url.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0 == " " || $0 == "\\" }) {
            throw refuse("the URL contains spaces, control characters or backslashes")
        }
        // FFmpeg takes the protocol name as the longest prefix of these characters before ':'
        // (libavformat/avio.c, url_find_protocol); anything else is opened as a file.
        let schemeChars = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
        let prefix = url.prefix { schemeChars.contains($0) }
        let rest = url.dropFirst(prefix.count)
        let scheme = prefix.lowercased()

        if url.hasPrefix("/") || (rest.first != ":" && !url.lowercased().hasPrefix("subfile,")) {
            // No protocol: FFmpeg would read it as a local path.
            return try localFile(path: url, url: url, origin: origin)
        }
        if scheme == "file" {
            guard rest.hasPrefix(":") else { throw refuse("malformed file URL") }
            var path = String(rest.dropFirst())
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            return try localFile(path: path, url: url, origin: origin)
        }
        if url.lowercased().hasPrefix("subfile,") || Self.forbiddenSchemes.contains(scheme) {
            throw refuse("the \(scheme.isEmpty ? "subfile" : scheme): protocol is never opened as a stream (it can read local files or fetch playlists)")
        }
        guard allowedSchemes.contains(scheme), let plan = Self.plans[scheme] else {
            throw refuse("scheme \"\(scheme)\" is not allowed; allowed: \(allowedSchemes.sorted().joined(separator: ", "))")
        }
        guard rest.hasPrefix("://") else { throw refuse("expected \(scheme)://host:port") }
        let afterSlashes = rest.dropFirst(3)
        var authority = String(afterSlashes.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
        let pathAndQuery = afterSlashes.dropFirst(authority.count)
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        let host: String
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw refuse("unterminated IPv6 address") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
        } else {
            host = String(authority.prefix { $0 != ":" })
        }
        let hostLower = host.lowercased()
        let path = pathAndQuery.prefix { $0 != "?" && $0 != "#" }.lowercased()
        if path.hasSuffix(".m3u8") || path.hasSuffix(".m3u") {
            throw refuse("HLS playlists are not opened (a playlist can name local files)")
        }
        if origin == .network {
            // A listening UDP socket (udp://@:port, udp://:port) names no peer; anything else must.
            if hostLower.isEmpty && scheme != "udp" && scheme != "rtp" {
                throw refuse("the URL names no host")
            }
            if let allowedHosts, !hostLower.isEmpty, !Self.hostMatches(hostLower, allowedHosts) {
                throw refuse("host \"\(host)\" is not in the allowed hosts (\(allowedHosts.sorted().joined(separator: ", ")))")
            }
        }
        return CheckedURL(url: url, scheme: scheme, host: hostLower, origin: origin,
                          protocolWhitelist: plan.protocols, formatWhitelist: plan.formats,
                          forcedFormat: plan.forced, isFile: false)
    }

    private func localFile(path: String, url: String, origin: StreamOrigin) throws(MediaError) -> CheckedURL {
        guard origin == .localConfig else {
            throw .refused(url: url, reason: "local files are opened only from local configuration, never from a network URL")
        }
        guard allowFilesFromLocalConfig else {
            throw .refused(url: url, reason: "local files are disabled by the URL policy")
        }
        guard path.hasPrefix("/") || !path.contains(":") else {
            throw .refused(url: url, reason: "expected an absolute path or file:/absolute/path")
        }
        let lower = path.lowercased()
        if lower.hasSuffix(".m3u8") || lower.hasSuffix(".m3u") {
            throw .refused(url: url, reason: "HLS playlists are not opened (a playlist can name other files)")
        }
        if lower.hasSuffix(".sdp") {
            // An SDP file describes RTP sessions; the RTP packets come over UDP.
            return CheckedURL(url: "file:" + path, scheme: "file", host: "", origin: origin,
                              protocolWhitelist: "file,rtp,udp", formatWhitelist: "sdp,rtp",
                              forcedFormat: "sdp", isFile: false)
        }
        return CheckedURL(url: "file:" + path, scheme: "file", host: "", origin: origin,
                          protocolWhitelist: "file", formatWhitelist: "mpegts,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,flv,h264,hevc",
                          forcedFormat: nil, isFile: true)
    }

    static func hostMatches(_ host: String, _ allowed: Set<String>) -> Bool {
        if allowed.contains(host) { return true }
        return allowed.contains { $0.hasPrefix(".") && (host.hasSuffix($0) || "." + host == $0) }
    }

    struct Plan { var protocols: String; var formats: String; var forced: String? }

    /// Per scheme: the protocols libavformat may use underneath, and the demuxers it may pick.
    static let plans: [String: Plan] = [
        "rtsp": Plan(protocols: "rtsp,rtp,udp,tcp", formats: "rtsp", forced: "rtsp"),
        "rtsps": Plan(protocols: "rtsps,rtsp,rtp,udp,tcp,tls", formats: "rtsp", forced: "rtsp"),
        "srt": Plan(protocols: "srt", formats: "mpegts", forced: "mpegts"),
        "udp": Plan(protocols: "udp", formats: "mpegts", forced: "mpegts"),
        "tcp": Plan(protocols: "tcp", formats: "mpegts", forced: "mpegts"),
        "rtp": Plan(protocols: "rtp,udp", formats: "rtp", forced: "rtp"),
        "rtmp": Plan(protocols: "rtmp,tcp", formats: "flv,live_flv", forced: "live_flv"),
    ]
}

/// A URL the policy accepted, with the fences to open it within. Only `URLPolicy.check` makes one.
public struct CheckedURL: Hashable, Sendable {
    /// What is passed to libavformat (a bare path becomes `file:/path`).
    public let url: String
    public let scheme: String
    public let host: String
    public let origin: StreamOrigin
    /// `protocol_whitelist` for the open.
    public let protocolWhitelist: String
    /// `format_whitelist` for the open.
    public let formatWhitelist: String
    /// The demuxer to use without probing (faster, and no guessing on live input).
    public let forcedFormat: String?
    /// A local media file (can end, can be looped, can be read faster than real time).
    public let isFile: Bool
    /// Live input that starts mid-stream: skip `avformat_find_stream_info` and wait for a keyframe.
    var isMPEGTS: Bool { forcedFormat == "mpegts" }

    /// The URL without user name, password and secret query values, for logs and stats.
    public var redacted: String { Redact.text(url) }
}
