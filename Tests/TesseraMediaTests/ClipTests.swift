import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia
@testable import TesseraTestMedia
import CFFmpeg
@testable import TesseraFFmpeg

/// Clips the tests make with libx264, decoded through the engine as a local-config file.
@Suite("Clips")
struct ClipTests {
    static func makeClip(_ dir: TempDir, name: String = "clip.ts", participant: Int = 7, seconds: Double = 2,
                         size: Size = Size(width: 320, height: 180), fps: Int = 30) throws -> String {
        var o = TestSourceOptions()
        o.participant = participant; o.size = size; o.fps = fps; o.seconds = seconds
        let path = dir.path + "/" + name
        try TestPublisher(url: path, options: o).run()
        return path
    }

    @Test(arguments: ["clip.ts", "clip.mp4", "clip.mkv"])
    func decodesEveryFrameWithStamps(_ name: String) throws {
        let dir = TempDir()
        let path = try Self.makeClip(dir, name: name)
        var config = testConfiguration()
        config.loopFiles = false
        config.paceFiles = false
        config.lockstepFiles = true
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        let id = StreamID("p7")
        var stamps: [Int64] = []
        var stampless: [Int] = []
        var last: DecodedFrame?  // held, so the next picture cannot take its address
        // Lock-step: the decoder waits until each picture was taken, so every one is seen (the first
        // carries x264's own user-data SEI ahead of the stamp: it was missed now and then before).
        engine.update(desired: [StreamRequest(id: id, url: path, origin: .localConfig)])
        #expect(wait(upTo: .seconds(60)) {
            // The mailbox hands out its newest picture until the next one comes: count each once.
            if let f = engine.mailbox(for: id)?.latestFrame() as? DecodedFrame, f !== last {
                last = f
                if let s = f.stamp { stamps.append(s.frame) } else { stampless.append(stamps.count + stampless.count) }
            }
            return engine.allFinished
        })
        let stats = try #require(engine.stats.streams.first)
        #expect(stats.framesDecoded == 60, "all 2 s × 30 fps decoded")
        #expect(stats.codec == "h264")
        #expect(stats.width == 320 && stats.height == 180)
        #expect(stats.errors == 0, "\(stats.lastError ?? "")")
        #expect(stampless.isEmpty, "every frame carries the SEI stamp; these did not: \(stampless)")
        #expect(stamps == Array(0...59))
    }

    @Test func lastFrameHasMetadataStampAndPicture() throws {
        let dir = TempDir()
        let path = try Self.makeClip(dir, participant: 12, seconds: 1)
        var config = testConfiguration()
        config.loopFiles = false
        config.paceFiles = false
        let engine = MediaEngine(configuration: config)
        let id = StreamID("p12")
        engine.update(desired: [StreamRequest(id: id, url: path, origin: .localConfig)])
        let box = try #require(engine.mailbox(for: id))
        #expect(wait(upTo: .seconds(60)) { engine.allFinished })
        // The mailbox is cleared when the stream ends; read frames while it plays instead.
        engine.shutdown()

        let engine2 = MediaEngine(configuration: testConfiguration()) // loops and paces: a slate
        defer { engine2.shutdown() }
        engine2.update(desired: [StreamRequest(id: id, url: path, origin: .localConfig)])
        let box2 = try #require(engine2.mailbox(for: id))
        #expect(wait(upTo: .seconds(30)) { box2.latestDecodedFrame() != nil })
        let frame = try #require(box2.latestDecodedFrame())
        #expect(frame.size == Size(width: 320, height: 180))
        #expect(frame.format == .yuv420p)
        #expect(frame.matrix == .bt709 && frame.range == .limited)
        let stamp = try #require(frame.stamp)
        #expect(stamp.participant == 12)
        #expect(frame.stride(ofPlane: 0) >= 320 && frame.stride(ofPlane: 1) >= 160)
        // Background colour (a pixel away from the digits and the bar) within encoder tolerance.
        let want = TestPattern.color(participant: 12)
        let y = frame.withPlane(0) { span in span.unsafeLoad(fromByteOffset: 20 * frame.stride(ofPlane: 0) + 300, as: UInt8.self) }
        let cb = frame.withPlane(1) { span in span.unsafeLoad(fromByteOffset: 10 * frame.stride(ofPlane: 1) + 150, as: UInt8.self) }
        #expect(abs(Int(y) - Int(want.y)) <= 6 && abs(Int(cb) - Int(want.cb)) <= 6, "Y \(y) Cb \(cb), want \(want)")
        #expect(box.state == .offline, "an ended clip with loopFiles off is offline")
        // The frame outlives the engine's reference: the renderer may hold it as long as it likes.
        engine2.shutdown()
        #expect(frame.withPlane(0) { $0.byteCount } >= 320 * 180)
    }

    @Test func decoderThreadsFollowPictureSize() {
        #expect(Decoder.threadCount(width: 320, height: 180) == 1)
        #expect(Decoder.threadCount(width: 1280, height: 720) == 2)
        #expect(Decoder.threadCount(width: 1920, height: 1080) == 4)
    }

    @Test func stampRoundTrips() {
        let s = TestStamp(participant: 250, frame: 123_456_789, captureMicros: 1_700_000_000_123_456)
        let bytes = s.seiPayload
        let back = bytes.withUnsafeBytes { TestStamp(seiPayload: $0) }
        #expect(back == s)
        #expect(bytes.count == 36)
    }
}

/// Issue 16, finding 4: `tessera bench compose` once crawled for 12 minutes. In lock-step a decoder
/// waits for the renderer to take its frame; a frame left untaken for `stallAfter` made the stream
/// "stalled", renderers only take frames from streams that play, so it was never taken and the
/// stream waited for ever. A lock-step stream with an untaken frame is waiting, not stalled.
@Suite("Lock-step files")
struct LockstepTests {
    @Test func aFrameLeftUntakenPastStallAfterIsStillTakenAndTheClipPlaysToItsEnd() throws {
        let dir = TempDir()
        let path = try ClipTests.makeClip(dir, participant: 3, seconds: 1)
        var config = testConfiguration()
        config.loopFiles = false; config.paceFiles = false; config.lockstepFiles = true
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        let id = StreamID("p3")
        engine.update(desired: [StreamRequest(id: id, url: path, origin: .localConfig)])
        let box = try #require(engine.mailbox(for: id))
        #expect(wait(upTo: .seconds(30)) { box.hasUntakenFrame })
        // The renderer is busy elsewhere for twice stallAfter (another stream, a slow machine).
        Thread.sleep(forTimeInterval: 2 * config.stallAfter.seconds)
        #expect(box.state == .playing, "waiting for the renderer is not a stall")
        // A renderer's rule: take a frame only from a stream that plays (or is connecting).
        var taken = 0
        let finished = wait(upTo: .seconds(60)) {
            let state = box.state
            if (state == .playing || state == .connecting) && box.hasUntakenFrame, box.latestFrame() != nil { taken += 1 }
            return engine.allFinished
        }
        #expect(finished, "the clip played to its end (\(taken) frames taken, state \(box.state))")
        #expect(taken == 30, "every frame of 1 s × 30 fps taken once")
    }
}

/// Issue 15, item 2: `Decoder.init` leaked its codec context and frame when
/// `avcodec_parameters_to_context` failed (the class was not fully initialised, so its deinit,
/// which freed them, never ran). They are now owned by classes that free themselves.
@Suite("FFmpeg handles")
struct HandleTests {
    @Test func aDecoderWhoseParametersCannotBeCopiedFreesItsContext() throws {
        guard let format = avformat_alloc_context() else { Issue.record("avformat_alloc_context"); return }
        defer { avformat_free_context(format) }
        let stream = try #require(avformat_new_stream(format, nil))
        let par = try #require(stream.pointee.codecpar)
        // Cinepak: a decoder no other test opens, so the count below is this test's alone.
        par.pointee.codec_type = AVMEDIA_TYPE_VIDEO
        par.pointee.codec_id = AV_CODEC_ID_CINEPAK
        // Extradata whose padded size does not fit in an int: the copy fails with ENOMEM.
        par.pointee.extradata = av_mallocz(16)?.assumingMemoryBound(to: UInt8.self)
        par.pointee.extradata_size = Int32.max - 8
        defer { par.pointee.extradata_size = 16 }
        let before = CodecContext.live(codec: "cinepak")
        let error = #expect(throws: MediaError.self) { _ = try Decoder(stream: stream, url: "test", hardwareDevice: nil) }
        #expect(error?.description.contains("avcodec_parameters_to_context") == true, "\(String(describing: error))")
        #expect(CodecContext.live(codec: "cinepak") == before, "the context made for the failed decoder was freed")
    }
}
