import Testing
import TesseraCore
@testable import TesseraMedia

@Suite("URL policy")
struct URLPolicyTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var url: String
        var origin: StreamOrigin
        /// nil: accepted; otherwise a fragment of the refusal's reason.
        var refusal: String?
        var testDescription: String { "\(origin) \(url)" }
    }

    static let policy = URLPolicy(allowedHosts: ["127.0.0.1", "media.school.example", ".sfu.example"])

    static let cases: [Case] = [
        Case(url: "rtsp://media.school.example:8554/p1", origin: .network, refusal: nil),
        Case(url: "rtsps://user:secret@media.school.example/p1", origin: .network, refusal: nil),
        Case(url: "srt://a.sfu.example:9000?mode=caller", origin: .network, refusal: nil),
        Case(url: "udp://127.0.0.1:5000", origin: .network, refusal: nil),
        Case(url: "udp://@:5000", origin: .network, refusal: nil),
        Case(url: "rtp://127.0.0.1:5004", origin: .network, refusal: nil),
        Case(url: "tcp://127.0.0.1:7000", origin: .network, refusal: nil),
        Case(url: "rtmp://media.school.example/live/p1", origin: .network, refusal: nil),
        Case(url: "RTSP://MEDIA.SCHOOL.EXAMPLE/p1", origin: .network, refusal: nil),
        // Hosts outside the allowlist.
        Case(url: "rtsp://evil.example/p1", origin: .network, refusal: "not in the allowed hosts"),
        Case(url: "rtsp://sfu.example.evil.example/p1", origin: .network, refusal: "not in the allowed hosts"),
        Case(url: "srt://10.0.0.9:9000", origin: .network, refusal: "not in the allowed hosts"),
        Case(url: "rtsp://media.school.example@evil.example/p1", origin: .network, refusal: "not in the allowed hosts"),
        // Things that read local files or fetch playlists.
        Case(url: "file:/etc/passwd", origin: .network, refusal: "only from local configuration"),
        Case(url: "/etc/passwd", origin: .network, refusal: "only from local configuration"),
        Case(url: "concat:/etc/passwd|/etc/hosts", origin: .network, refusal: "never opened"),
        Case(url: "concat:/a.ts|/b.ts", origin: .localConfig, refusal: "never opened"),
        Case(url: "subfile,,start,0,end,100,,:/etc/passwd", origin: .network, refusal: "never opened"),
        Case(url: "subfile,,start,0,end,100,,:/etc/passwd", origin: .localConfig, refusal: "never opened"),
        Case(url: "data:video/mp2t;base64,R0lG", origin: .network, refusal: "never opened"),
        Case(url: "pipe:0", origin: .localConfig, refusal: "never opened"),
        Case(url: "http://media.school.example/live.m3u8", origin: .network, refusal: "never opened"),
        Case(url: "hls:http://media.school.example/a.m3u8", origin: .network, refusal: "never opened"),
        Case(url: "rtsp://media.school.example/playlist.m3u8", origin: .network, refusal: "HLS"),
        Case(url: "/srv/clips/list.m3u8", origin: .localConfig, refusal: "HLS"),
        Case(url: "gopher://media.school.example/", origin: .network, refusal: "never opened"),
        Case(url: "smb://media.school.example/share", origin: .network, refusal: "never opened"),
        Case(url: "mms://media.school.example/", origin: .network, refusal: "not allowed"),
        Case(url: "rtsp://media.school.example/ p1", origin: .network, refusal: "spaces"),
        Case(url: "rtsp:media.school.example", origin: .network, refusal: "expected rtsp://"),
        Case(url: "rtsp:///p1", origin: .network, refusal: "names no host"),
        Case(url: "", origin: .network, refusal: "empty"),
        // Local configuration may name files (and skips the host allowlist: it is the wall's own).
        Case(url: "/srv/clips/slate.ts", origin: .localConfig, refusal: nil),
        Case(url: "file:/srv/clips/slate.mp4", origin: .localConfig, refusal: nil),
        Case(url: "file:///srv/cams/cam1.sdp", origin: .localConfig, refusal: nil),
        Case(url: "rtsp://10.1.2.3/cam", origin: .localConfig, refusal: nil),
    ]

    @Test(arguments: cases)
    func check(_ c: Case) {
        do {
            let checked = try Self.policy.check(c.url, origin: c.origin)
            #expect(c.refusal == nil, "accepted, expected a refusal containing \"\(c.refusal ?? "")\"")
            #expect(!checked.protocolWhitelist.split(separator: ",").contains { ["file", "http", "https", "concat", "subfile", "data", "pipe", "hls"].contains(String($0)) } || checked.scheme == "file")
            #expect(!checked.formatWhitelist.contains("hls"))
        } catch {
            guard case .refused(let url, let reason) = error else { Issue.record("unexpected error \(error)"); return }
            #expect(url == c.url)
            if let want = c.refusal { #expect(reason.contains(want), "reason: \(reason)") } else { Issue.record("refused: \(reason)") }
        }
    }

    @Test func whitelistsPerScheme() throws {
        let p = URLPolicy()
        #expect(try p.check("udp://127.0.0.1:5000", origin: .network).protocolWhitelist == "udp")
        #expect(try p.check("srt://h:1", origin: .network).protocolWhitelist == "srt")
        #expect(try p.check("rtsp://h/x", origin: .network).protocolWhitelist == "rtsp,rtp,udp,tcp")
        #expect(try p.check("/a/clip.ts", origin: .localConfig).protocolWhitelist == "file")
        #expect(try p.check("/a/clip.ts", origin: .localConfig).url == "file:/a/clip.ts")
        #expect(try p.check("rtsps://u:pw@h/x", origin: .network).redacted == "rtsps://***@h/x")
    }

    @Test func filesCanBeDisabled() {
        let p = URLPolicy(allowFilesFromLocalConfig: false)
        #expect(throws: MediaError.self) { try p.check("/srv/clips/slate.ts", origin: .localConfig) }
    }

    @Test func forbiddenSchemesStayForbiddenEvenIfAllowed() {
        let p = URLPolicy(allowedSchemes: ["file", "concat", "http", "udp"])
        for url in ["concat:/a|/b", "http://h/x.ts", "file:/etc/passwd"] {
            #expect(throws: MediaError.self, "\(url)") { try p.check(url, origin: .network) }
        }
    }

    @Test func backoffGrowsAndIsCapped() {
        var c = MediaConfiguration()
        c.backoffInitial = .milliseconds(100); c.backoffMax = .milliseconds(1000); c.backoffJitter = 0.2
        let d1 = StreamWorker.backoff(attempt: 1, config: c), d4 = StreamWorker.backoff(attempt: 4, config: c)
        let d20 = StreamWorker.backoff(attempt: 20, config: c)
        #expect(d1 >= .milliseconds(80) && d1 <= .milliseconds(120))
        #expect(d4 >= .milliseconds(640) && d4 <= .milliseconds(960))
        #expect(d20 >= .milliseconds(800) && d20 <= .milliseconds(1200))
    }
}
