import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia
@testable import TesseraTestMedia

/// A stream that falls behind its own clock skips ahead to a keyframe on time (`CatchUp`,
/// `MediaConfiguration.catchUpAfter`): the policy over arrival and media times, and a live UDP
/// stream whose decoder is held back.
@Suite struct CatchUpTests {
    /// Feeds `frames` packets at `fps`, a keyframe every `gop`; `arrival(i)` is packet i's arrival
    /// in seconds. Returns the verdicts.
    static func run(frames: Int, fps: Double = 30, gop: Int = 30, after: Double = 1,
                    arrival: (Int) -> Double, media: (Int) -> Double = { Double($0) / 30 }) -> [CatchUp.Verdict] {
        var c = CatchUp(after: after)
        var waitingForKey = false
        var verdicts: [CatchUp.Verdict] = []
        for i in 0..<frames {
            // As in StreamWorker: while waiting for a keyframe, the others are skipped unasked.
            if waitingForKey && i % gop != 0 { verdicts.append(.skip); continue }
            let v = c.packet(arrival: arrival(i), media: media(i))
            waitingForKey = v != .decode
            verdicts.append(v)
        }
        return verdicts
    }

    @Test func aStreamOnTimeWithJitterAndASlowSenderClockNeverCatchesUp() {
        // An hour at 30 frames/s; arrivals up to 300 ms late at random; the sender's clock runs
        // 500 ppm slow (its media time falls 1.8 s behind ours over the hour).
        var rng = SystemRandomNumberGenerator()
        let jitter = (0..<108_000).map { _ in Double.random(in: 0...0.3, using: &rng) }
        let v = Self.run(frames: 108_000, arrival: { Double($0) / 30 * 1.0005 + jitter[$0] })
        #expect(!v.contains { $0 != .decode })
    }

    @Test func aStreamThatFallsBehindSkipsToTheFirstKeyframeOnTime() {
        // On time for 3 s, then each packet comes 30 ms later than the one before (decoding at a
        // slower pace than the stream), until the stream catches up by reading without decoding.
        var catchingUp = false, skippedFrom: Int?
        var arrivalOf: [Double] = []
        var v: [CatchUp.Verdict] = []
        var c = CatchUp(after: 1)
        var waitingForKey = false
        var t = 0.0
        for i in 0..<600 {
            let media = Double(i) / 30
            t = i < 90 ? media : (catchingUp ? max(t, media) : t + 1.0 / 30 + 0.03)
            arrivalOf.append(t)
            if waitingForKey && i % 30 != 0 { v.append(.skip); continue }
            let verdict = c.packet(arrival: t, media: media)
            if case .fellBehind = verdict { catchingUp = true; skippedFrom = skippedFrom ?? i }
            if verdict == .decode { catchingUp = false }
            waitingForKey = verdict != .decode
            v.append(verdict)
        }
        let first = try? #require(skippedFrom)
        guard let first else { return }
        // 1 s behind after about 33 packets at 30 ms each: caught between frames 120 and 130.
        #expect((120...130).contains(first), "fell behind at \(first)")
        let resumed = try? #require(v.indices.first { $0 > first && v[$0] == .decode })
        guard let resumed else { return }
        #expect(resumed % 30 == 0, "resumed on a keyframe: \(resumed)")
        #expect(resumed - first <= 30, "at the next keyframe on time, \(resumed - first) packets later")
        #expect(arrivalOf[resumed] - Double(resumed) / 30 <= 1, "and that keyframe is on time")
        #expect(v.filter { if case .fellBehind = $0 { true } else { false } }.count >= 2, "the pace stays too slow: it falls behind again")
    }

    @Test func aTimestampJumpIsNotLag() {
        // The publisher restarts its clock an hour back after 10 s: nothing is skipped.
        let v = Self.run(frames: 900, arrival: { Double($0) / 30 }, media: { i in Double(i) / 30 - (i >= 300 ? 3600 : 0) })
        #expect(!v.contains { $0 != .decode })
    }

    @Test func aStepBackOfTheTimestampsEndsCatchingUpWithinTwoSecondsAndAGOP() {
        // Media time steps 5 s back: it looks like lag until the baseline starts over.
        let v = Self.run(frames: 900, arrival: { Double($0) / 30 }, media: { i in Double(i) / 30 - (i >= 300 ? 5 : 0) })
        let behind = v.indices.filter { if case .fellBehind = v[$0] { true } else { false } }
        #expect(behind == [300], "\(behind)")
        let resumed = v.indices.first { $0 > 300 && v[$0] == .decode }
        #expect(resumed.map { $0 <= 300 + 60 + 30 } == true, "decoding again after \(resumed.map { $0 - 300 } ?? -1) packets")
        #expect(!v.suffix(from: resumed ?? 0).contains { $0 != .decode }, "and for good")
    }

    /// Timestamps come from the stream: any value. None traps, and a stream fed them then on-time
    /// packets decodes again within the 2 s a step back may take.
    @Test func hostileTimestampsNeitherTrapNorFreezeTheStream() {
        let hostile: [Double] = [.nan, .infinity, -.infinity, 1e300, -1e300, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0]
        var c = CatchUp(after: 1)
        var t = 0.0
        for m in hostile { _ = c.packet(arrival: t, media: m); t += 1.0 / 30 }
        var decodedAt: Double?
        for i in 0..<150 {
            let arrival = t + Double(i) / 30
            if c.packet(arrival: arrival, media: Double(i) / 30) == .decode, decodedAt == nil { decodedAt = arrival - t }
        }
        #expect(decodedAt.map { $0 <= 2.1 } == true, "decoding again after \(decodedAt ?? -1) s")
    }

    /// A live UDP stream (libx264 via FFmpeg, 30 frames/s, a keyframe every half second) whose
    /// decoder cannot get a decode token for 3 s: packets pile up in the socket meanwhile. With
    /// catching up, the stream skips the pile and shows a picture captured less than 1.5 s ago;
    /// without, it decodes every old packet.
    @Test(arguments: [true, false])
    func aLiveStreamHeldBackSkipsAheadInsteadOfShowingOldPictures(catchUp: Bool) async throws {
        let live = LiveStream.start(participant: 1, size: Size(width: 160, height: 90), fps: 30)
        defer { live.publisher.stop(); live.publisher.join() }
        var config = testConfiguration()
        config.decodeTokens = 1
        config.catchUpAfter = catchUp ? .seconds(1) : nil
        config.stallAfter = .seconds(10); config.offlineAfter = .seconds(10)   // held back is not offline
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        engine.update(desired: [live.request])
        let mailbox = try #require(engine.mailbox(for: live.id))
        try await eventually(.seconds(30)) { mailbox.snapshot.framesDecoded >= 30 }
        try await Task.sleep(for: .seconds(2))
        #expect(mailbox.snapshot.catchUps == 0, "on time: nothing skipped")

        // Hold the only decode token for 3 s.
        #expect(engine.decodeGate.enter(stopping: { false }))
        let before = mailbox.snapshot
        try await Task.sleep(for: .seconds(3))
        engine.decodeGate.leave()
        try await eventually(.seconds(20)) { mailbox.snapshot.framesDecoded >= before.framesDecoded + 15 }
        try await Task.sleep(for: .seconds(1))
        let after = mailbox.snapshot
        #expect(after.errors == 0 && after.reconnects == 0, "\(after.lastError ?? "")")
        if catchUp {
            #expect(after.catchUps >= 1)
            #expect(after.packetsSkippedBehind >= 30, "at least a second of the pile skipped: \(after.packetsSkippedBehind)")
            let stamp = try #require(mailbox.latestDecodedFrame()?.captureMicros)
            let age = WallClock.age(ofStamp: stamp, now: WallClock.micros()) ?? .max
            #expect(age < 1_500_000, "the newest picture was captured \(age / 1000) ms ago")
        } else {
            #expect(after.catchUps == 0 && after.packetsSkippedBehind == 0)
            #expect(after.framesDecoded - before.framesDecoded >= 80, "every held-back packet decoded: \(after.framesDecoded - before.framesDecoded)")
        }
    }
}

/// Polls `condition` every 20 ms until it holds; fails the test after `timeout`.
private func eventually(_ timeout: Duration, _ condition: () -> Bool) async throws {
    let end = ContinuousClock.now + timeout
    while !condition() {
        try #require(ContinuousClock.now < end, "timed out")
        try await Task.sleep(for: .milliseconds(20))
    }
}
