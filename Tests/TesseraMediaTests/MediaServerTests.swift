import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia
#if canImport(Glibc)
import Glibc
#endif

/// Issue 18, part 3: the wall against the media servers rooms use, all packaged by Debian and none
/// written by us, fed with a clip made by the `ffmpeg` CLI (BT.709, limited range, a known colour):
/// GStreamer's gst-rtsp-server with digest authentication, SRT through `srt-live-transmit` as a
/// relay, RTMP through nginx's RTMP module. Each plays, shows the clip's own colour, goes offline
/// when its server dies and plays again when it is back; the figures are printed (docs/media.md).
/// Serialized: each runs a server, a publisher and a decoder on two shared cores.
@Suite("Media servers packaged by Debian", .serialized)
struct MediaServerTests {
    static let password = "s3cret-Digest-pw"

    @Test(.enabled(if: MediaServers.haveRTSPServer, "needs gst-rtsp-server for Python (gir1.2-gst-rtsp-server-1.0, python3-gi): make deps"))
    func gstRTSPServerWithDigestAuthenticationPlaysAndRecovers() throws {
        let clip = try #require(MediaServers.clip)
        let dir = TempDir()
        try Self.password.write(toFile: "\(dir.path)/password", atomically: true, encoding: .utf8)
        let port = Ports.take()
        func serve() throws -> ServerProcess {
            try ServerProcess("/usr/bin/python3", [MediaServers.tool("rtsp_server.py"), "--port", "\(port)", "--clip", clip.path,
                                                   "--user", "viewer", "--password-file", "\(dir.path)/password"],
                              ready: "ready \(port)")
        }
        var server = try serve()
        defer { server.stop() }
        let url = "rtsp://viewer:\(Self.password)@127.0.0.1:\(port)/cam"
        let logs = LogLines()
        try playAndRecover(label: "rtsp (gst-rtsp-server, digest, TCP interleaved)", url: url, clip: clip, logs: logs,
                           kill: { server.stop() }, restart: { server = try serve() })
        #expect(!logs.all.contains { $0.contains(Self.password) }, "the password reached a log line")
    }

    /// A wrong password is an error that says so, and neither the log nor the error shows it.
    @Test(.enabled(if: MediaServers.haveRTSPServer, "needs gst-rtsp-server for Python (gir1.2-gst-rtsp-server-1.0, python3-gi): make deps"))
    func aWrongPasswordIsReportedWithoutThePassword() throws {
        let clip = try #require(MediaServers.clip)
        let dir = TempDir()
        try Self.password.write(toFile: "\(dir.path)/password", atomically: true, encoding: .utf8)
        let port = Ports.take()
        let server = try ServerProcess("/usr/bin/python3", [MediaServers.tool("rtsp_server.py"), "--port", "\(port)", "--clip", clip.path,
                                                            "--user", "viewer", "--password-file", "\(dir.path)/password"],
                                       ready: "ready \(port)")
        defer { server.stop() }
        let logs = LogLines()
        let engine = MediaEngine(configuration: MediaServers.configuration, logger: logs.logger)
        defer { engine.shutdown() }
        let wrong = "not-the-\(Self.password)"
        let id = StreamID("p1")
        engine.update(desired: [StreamRequest(id: id, url: "rtsp://viewer:\(wrong)@127.0.0.1:\(port)/cam", origin: .network)])
        let box = try #require(engine.mailbox(for: id))
        #expect(wait(upTo: .seconds(20)) { box.snapshot.errors >= 1 })
        let s = box.snapshot
        #expect(s.state != .playing)
        #expect(s.lastError?.contains("401") == true || s.lastError?.localizedLowercase.contains("author") == true, "\(s.lastError ?? "-")")
        #expect(!"\(s)".contains(wrong) && !(s.lastError ?? "").contains(wrong), "\(s)")
        #expect(!logs.all.contains { $0.contains(wrong) }, "\(logs.all.filter { $0.contains(wrong) })")
    }

    /// A contribution encoder (the ffmpeg CLI) sends MPEG-TS over UDP to `srt-live-transmit`, which
    /// serves it as an SRT listener; the wall calls it, as a relay in a room would be used.
    @Test(.enabled(if: MediaServers.have("/usr/bin/srt-live-transmit"), "needs srt-live-transmit (srt-tools): make deps"))
    func srtLiveTransmitRelayPlaysAndRecovers() throws {
        let clip = try #require(MediaServers.clip)
        let udp = Ports.take(), srt = Ports.take()
        func relay() throws -> ServerProcess {
            try ServerProcess("/usr/bin/srt-live-transmit", ["-q", "udp://127.0.0.1:\(udp)", "srt://127.0.0.1:\(srt)?mode=listener"])
        }
        let publisher = try ServerProcess.ffmpegPublisher(clip: clip, to: "udp://127.0.0.1:\(udp)?pkt_size=1316", format: "mpegts")
        defer { publisher.stop() }
        var server = try relay()
        defer { server.stop() }
        try playAndRecover(label: "srt (srt-live-transmit relay)", url: "srt://127.0.0.1:\(srt)", clip: clip, logs: LogLines(),
                           kill: { server.stop() }, restart: { server = try relay() })
    }

    /// nginx with its RTMP module as the media server; the ffmpeg CLI publishes to it, the wall plays
    /// from it. When nginx dies the encoder's connection dies too, so both come back, as in a room.
    @Test(.enabled(if: MediaServers.have("/usr/sbin/nginx") && MediaServers.have("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
                   "needs nginx with its RTMP module (nginx-light, libnginx-mod-rtmp): make deps"))
    func nginxRTMPPlaysAndRecovers() throws {
        let clip = try #require(MediaServers.clip)
        let dir = TempDir()
        let port = Ports.take()
        try """
        load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
        daemon off;
        master_process off;
        pid \(dir.path)/nginx.pid;
        error_log \(dir.path)/error.log warn;
        events { worker_connections 64; }
        rtmp { server { listen 127.0.0.1:\(port); chunk_size 4096; application live { live on; record off; } } }
        """.write(toFile: "\(dir.path)/nginx.conf", atomically: true, encoding: .utf8)
        func serve() throws -> (ServerProcess, ServerProcess) {
            let nginx = try ServerProcess("/usr/sbin/nginx", ["-p", dir.path, "-c", "\(dir.path)/nginx.conf", "-e", "\(dir.path)/error.log"],
                                          tcpPort: port)
            let publisher = try ServerProcess.ffmpegPublisher(clip: clip, to: "rtmp://127.0.0.1:\(port)/live/p1", format: "flv")
            return (nginx, publisher)
        }
        var (nginx, publisher) = try serve()
        defer { publisher.stop(); nginx.stop() }
        try playAndRecover(label: "rtmp (nginx-rtmp)", url: "rtmp://127.0.0.1:\(port)/live/p1", clip: clip, logs: LogLines(),
                           kill: { nginx.stop(); publisher.stop() }, restart: { (nginx, publisher) = try serve() })
    }

    /// Plays `url` until the first picture (which must be the clip's colour, tagged BT.709 limited),
    /// kills the server, waits for the tile to go offline, brings the server back and waits for
    /// pictures again. Prints time to first picture, time to offline and time to recover.
    private func playAndRecover(label: String, url: String, clip: MediaServers.Clip, logs: LogLines,
                                kill: () -> Void, restart: () throws -> Void) throws {
        let config = MediaServers.configuration
        let engine = MediaEngine(configuration: config, logger: logs.logger)
        defer { engine.shutdown() }
        let id = StreamID("p1")
        let opened = ContinuousClock.now
        #expect(engine.update(desired: [StreamRequest(id: id, url: url, origin: .network)]).isEmpty)
        let box = try #require(engine.mailbox(for: id))
        #expect(wait(upTo: .seconds(30)) { box.state == .playing }, "\(label): \(box.snapshot); log: \(logs.all.suffix(5))")
        let firstPicture = ContinuousClock.now - opened
        let frame = try #require(box.latestDecodedFrame(), "\(label): no picture")
        #expect(frame.size == clip.size)
        #expect(frame.matrix == .bt709 && frame.range == .limited, "\(label): \(frame.matrix) \(frame.range)")
        let yuv = MediaServers.centre(of: frame)
        #expect(abs(yuv.y - clip.yuv.y) <= 1 && abs(yuv.u - clip.yuv.u) <= 1 && abs(yuv.v - clip.yuv.v) <= 1,
                "\(label): centre \(yuv), the clip has \(clip.yuv)")

        kill()
        let killedAt = ContinuousClock.now
        #expect(wait(upTo: .seconds(15)) { box.state == .offline }, "\(label): \(box.snapshot)")
        let offline = ContinuousClock.now - killedAt
        #expect(box.latestFrame() == nil, "offline tiles show the slate, not a frozen frame")

        try restart()
        let restartedAt = ContinuousClock.now
        #expect(wait(upTo: .seconds(30)) { box.state == .playing }, "\(label): not playing again: \(box.snapshot); log: \(logs.all.suffix(5))")
        let recovery = ContinuousClock.now - restartedAt
        #expect(box.snapshot.reconnects >= 1, "the stream came back through a reopen")
        print("\(label): first picture \(ms(firstPicture)) after the open; server killed → offline \(ms(offline)) " +
              "(offlineAfter \(ms(config.offlineAfter))); server back → playing \(ms(recovery))")
    }

    private func ms(_ d: Duration) -> String { "\(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000) ms" }
}

enum MediaServers {
    /// The wall's defaults for stall and offline, a short backoff: what a room sees, kept quick.
    static var configuration: MediaConfiguration {
        var c = testConfiguration()
        c.policy = URLPolicy(allowedHosts: ["127.0.0.1"])
        c.openTimeout = .seconds(5)
        return c
    }

    static func have(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static let haveRTSPServer: Bool = {
        guard have("/usr/bin/python3") else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    static func tool(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/media-servers/\(name)").path
    }

    struct Clip: Sendable {
        var path: String
        var size: Size
        /// The clip's colour as FFmpeg's own decoder gives it (Y', Cb, Cr at the centre).
        var yuv: (y: Int, u: Int, v: Int)
    }

    /// 90 s of a flat 0x3060A0 picture, 320x180 at 15 fps, H.264 with a keyframe every second,
    /// tagged BT.709 limited range; made once per run by the ffmpeg CLI, and read back by it.
    static let clip: Clip? = {
        guard have("/usr/bin/ffmpeg") else { return nil }
        let path = NSTemporaryDirectory() + "tessera-media-servers-\(getpid()).mp4"
        guard run("/usr/bin/ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=0x3060A0:s=320x180:r=15",
                                      "-t", "90", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-bf", "0",
                                      "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
                                      "-color_range", "tv", "-movflags", "+faststart", path]) != nil,
              let raw = run("/usr/bin/ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", path, "-frames:v", "1",
                                                "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]),
              raw.count == 320 * 180 * 3 / 2
        else { return nil }
        let y = Int(raw[90 * 320 + 160]), u = Int(raw[320 * 180 + 45 * 160 + 80]), v = Int(raw[320 * 180 * 5 / 4 + 45 * 160 + 80])
        return Clip(path: path, size: Size(width: 320, height: 180), yuv: (y, u, v))
    }()

    static func centre(of frame: DecodedFrame) -> (y: Int, u: Int, v: Int) {
        let w = frame.size.width, h = frame.size.height
        func sample(_ plane: Int, _ x: Int, _ y: Int) -> Int {
            let stride = frame.stride(ofPlane: plane)
            return frame.withPlane(plane) { Int($0.unsafeLoad(fromByteOffset: y * stride + x, as: UInt8.self)) }
        }
        return (sample(0, w / 2, h / 2), sample(1, w / 4, h / 4), sample(2, w / 4, h / 4))
    }

    /// Runs a tool to its end; its stdout, or nil when it failed.
    static func run(_ executable: String, _ arguments: [String]) -> Data? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? data : nil
    }
}

/// A server (or publisher) process for one test: started, waited for, and ended with SIGTERM (then
/// SIGKILL) by `stop()`, which may be called more than once.
final class ServerProcess: @unchecked Sendable {
    private let process = Process()
    private let output = Pipe()

    /// Starts `executable`; when `ready` is given, waits (up to 15 s) for that line on its stdout;
    /// when `tcpPort` is given, waits until something accepts there.
    init(_ executable: String, _ arguments: [String], ready: String? = nil, tcpPort: Int? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        if let ready {
            let started = ContinuousClock.now
            let fd = output.fileHandleForReading.fileDescriptor
            var seen = [UInt8]()
            while !String(decoding: seen, as: UTF8.self).contains(ready) {
                guard process.isRunning, ContinuousClock.now - started < .seconds(15) else {
                    stop()
                    throw TestProcessError("\(executable) did not print \"\(ready)\" within 15 s")
                }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 100) == 1 else { continue }
                var chunk = [UInt8](repeating: 0, count: 256)
                let n = read(fd, &chunk, chunk.count)
                if n > 0 { seen += chunk[0..<n] }
            }
        }
        if let tcpPort {
            guard wait(upTo: .seconds(15), { Self.accepts(tcpPort) || !self.process.isRunning }), process.isRunning else {
                stop()
                throw TestProcessError("\(executable) did not listen on 127.0.0.1:\(tcpPort) within 15 s")
            }
        }
    }

    /// The ffmpeg CLI sending `clip` in real time, looped, to `url` (the clip is already H.264: no
    /// re-encoding, so a 2-core machine is not loaded by it).
    static func ffmpegPublisher(clip: MediaServers.Clip, to url: String, format: String) throws -> ServerProcess {
        try ServerProcess("/usr/bin/ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1", "-i", clip.path,
                                              "-c", "copy", "-f", format, url])
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if !wait(upTo: .seconds(5), { !self.process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

struct TestProcessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
