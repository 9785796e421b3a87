import Foundation
import TesseraCore
@testable import TesseraMedia
import Testing

/// Load shedding in Media (`StreamShedding`): the throttle's arithmetic, and real ffmpeg-made clips
/// decoded with non-reference frames skipped and with pictures held back.
@Suite struct SheddingTests {
    /// Pictures admitted of `frames` arriving at `fps` under a cap of `cap` per second.
    static func admitted(fps: Double, cap: Double?, frames: Int, jitter: Double = 0) -> Int {
        var t = ShowThrottle()
        let start = ContinuousClock.now
        return (0..<frames).filter { i in
            let wobble = i % 2 == 0 ? jitter : -jitter
            return t.admit(at: start + .microseconds(Int64((Double(i) + wobble) / fps * 1e6)), maxPerSecond: cap)
        }.count
    }

    @Test(arguments: [
        (30.0, nil as Double?, 300, 300),   // no cap: every picture
        (30, 15, 300, 150),                 // every other
        (30, 20, 300, 200),
        (25, 15, 250, 150),
        (30, 10, 300, 100),
        (10, 15, 100, 100),                 // slower than the cap: all
    ])
    func theThrottleShowsTheCappedRateEvenly(_ c: (Double, Double?, Int, Int)) {
        let n = Self.admitted(fps: c.0, cap: c.1, frames: c.2)
        #expect(abs(n - c.3) <= 2, "\(n) shown, expected about \(c.3)")
        let jittered = Self.admitted(fps: c.0, cap: c.1, frames: c.2, jitter: 0.2)
        #expect(abs(jittered - c.3) <= 3, "with a fifth of a frame of jitter: \(jittered)")
    }

    /// A 2 s, 30 frames/s clip with B-frames that nothing refers to (`b-pyramid=none`), made by the `ffmpeg` CLI.
    static func makeClipWithBFrames(_ dir: TempDir) async throws -> String {
        let path = dir.path + "/bframes.mp4"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
                       "-t", "2", "-c:v", "libx264", "-bf", "2", "-g", "30", "-x264-params", "b-pyramid=none", "-pix_fmt", "yuv420p", path]
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<Void, any Error>) in
            p.terminationHandler = { _ in k.resume() }
            do { try p.run() } catch { k.resume(throwing: error) }
        }
        try #require(p.terminationStatus == 0, "ffmpeg could not make the clip")
        return path
    }

    /// Plays `path` once, paced, with `shedding` set as soon as the stream is open; its stats at the end.
    static func play(_ path: String, shedding: StreamShedding) async throws -> StreamStats {
        var config = testConfiguration()
        config.loopFiles = false
        config.paceFiles = true
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        let id = StreamID("p1")
        engine.update(desired: [StreamRequest(id: id, url: path, origin: .localConfig)])
        engine.setShedding(shedding, for: id)
        #expect(engine.shedding(for: id) == shedding)
        for _ in 0..<1500 where !engine.allFinished { try await Task.sleep(for: .milliseconds(20)) }
        #expect(engine.allFinished, "the 2 s clip played to its end within 30 s")
        return try #require(engine.stats.streams.first)
    }

    @Test func skippingNonReferenceFramesDecodesOnlyTheReferencedOnes() async throws {
        let dir = TempDir()
        let path = try await Self.makeClipWithBFrames(dir)
        let all = try await Self.play(path, shedding: .none)
        #expect(all.framesDecoded == 60 && all.framesSkippedNonReference == 0 && all.framesNotShown == 0)
        let shed = try await Self.play(path, shedding: StreamShedding(skipNonReference: true, skipLoopFilter: .nonReference))
        #expect(shed.framesDecoded < 40 && shed.framesDecoded >= 20, "about a third of the frames are referenced: \(shed.framesDecoded)")
        #expect(abs(shed.framesDecoded + shed.framesSkippedNonReference - 60) <= 3, "\(shed.framesSkippedNonReference) counted skipped")
        #expect(shed.errors == 0, "\(shed.lastError ?? "")")
    }

    @Test func aCappedStreamDecodesEveryFrameAndShowsFewer() async throws {
        let dir = TempDir()
        let path = try await Self.makeClipWithBFrames(dir)
        let s = try await Self.play(path, shedding: StreamShedding(maxShownPerSecond: 10))
        #expect(s.framesDecoded == 60, "every frame decoded: later ones refer to them")
        let shown = s.framesDecoded - s.framesNotShown
        #expect((16...26).contains(shown), "about 10 a second over 2 s: \(shown)")
    }
}
