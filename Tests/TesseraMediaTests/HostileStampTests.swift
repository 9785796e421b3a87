import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia
@testable import TesseraTestMedia

/// Capture stamps come from stream bytes: any value a sender likes. Issue 12, finding 1: a stamp
/// near `Int64.min` ended the wall (SIGILL in `StreamMailbox.publish`).
@Suite("Hostile stamps")
struct HostileStampTests {
    @Test(arguments: [
        (Int64.min, nil), (Int64.max, nil), (-1, nil), (0, nil),
        // now − 3 ms: a picture on its way; now + 0.5 s: another machine's clock, a little ahead.
        (1_700_000_000_000_000 - 3_000, Int64(3_000)), (1_700_000_000_000_000 + 500_000, Int64(0)),
        (1_700_000_000_000_000 + 5_000_000, nil), (1_700_000_000_000_000 - 7_200_000_000, nil),
    ] as [(Int64, Int64?)])
    func ageOfAStampNeverTraps(_ stamp: Int64, _ expected: Int64?) {
        #expect(WallClock.age(ofStamp: stamp, now: 1_700_000_000_000_000) == expected)
    }

    /// A clip made by the ffmpeg CLI whose SEI carries Tessera's stamp UUID (h264_metadata's
    /// `sei_user_data`), with stamps that are no clock reading: it plays, and they are not measured.
    @Test func ffmpegMadeStampsFromTheFuturePlayAndAreIgnored() throws {
        let dir = TempDir()
        let path = try Self.ffmpegClipWithForeignStamp(dir)
        var config = testConfiguration()
        config.loopFiles = false
        config.paceFiles = false
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        let id = StreamID("p1")
        engine.update(desired: [StreamRequest(id: id, url: path, origin: .localConfig)])
        var ignored = 0, decoded = 0
        #expect(wait(upTo: .seconds(60)) {
            if let s = engine.stats.streams.first { ignored = s.stampsIgnored; decoded = s.framesDecoded }
            return engine.allFinished
        })
        #expect(decoded == 30, "every frame of the clip decoded")
        #expect(ignored >= 1, "the foreign stamps (0x41414141… µs: far in the future) are counted, not measured")
        #expect(engine.mailbox(for: id)?.latency.endToEnd.count ?? 0 == 0)
    }

    /// The same clip replayed live by a publisher whose clock is `Int64.min` µs off: every stamp
    /// is near `Int64.min`, and `now − stamp` overflows. The stream keeps playing.
    @Test func liveStampsNearInt64MinKeepTheStreamPlaying() throws {
        let dir = TempDir()
        let clip = try Self.ffmpegClipWithForeignStamp(dir)
        let port = Ports.take()
        var o = TestSourceOptions()
        o.replay = clip
        o.clockOffsetMicros = .min
        let publisher = TestPublisher(url: "udp://127.0.0.1:\(port)", options: o)
        publisher.start()
        defer { publisher.stop(); publisher.join() }
        let engine = MediaEngine(configuration: testConfiguration())
        defer { engine.shutdown() }
        let id = StreamID("p1")
        engine.update(desired: [StreamRequest(id: id, url: "udp://127.0.0.1:\(port)", origin: .network)])
        #expect(wait(upTo: .seconds(30)) { (engine.stats.streams.first?.stampsIgnored ?? 0) >= 3 })
        let stats = try #require(engine.stats.streams.first)
        #expect(stats.state == .playing)
        #expect(stats.framesDecoded > 0)
    }

    /// 2 s of 160x90@15 H.264 in MPEG-TS from the ffmpeg CLI, each keyframe's access unit carrying a
    /// user-data SEI with Tessera's stamp UUID and 20 bytes of 'A' (participant, frame, capture time).
    static func ffmpegClipWithForeignStamp(_ dir: TempDir) throws -> String {
        let path = dir.path + "/foreign-stamp.ts"
        let uuid = TestStamp.uuid.map { String(format: "%02x", $0) }.joined()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        p.arguments = ["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=15", "-t", "2",
                       "-c:v", "libx264", "-g", "5", "-pix_fmt", "yuv420p",
                       "-bsf:v", "h264_metadata=sei_user_data=\(uuid)+AAAAAAAAAAAAAAAAAAAA", "-f", "mpegts", "-y", path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        return path
    }
}
