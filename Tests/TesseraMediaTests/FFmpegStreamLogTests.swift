import CFFmpeg
import Foundation
import Logging
import Testing
import TesseraCore
@testable import TesseraMedia

/// Issue 15, item 3: FFmpeg's messages carry their stream even when a decoder's own threads log
/// them. Real H.264 from the ffmpeg CLI, corrupted by FFmpeg's `noise` bitstream filter in every
/// packet but the keyframes, decoded by Media: the decoder complains about the damage, and every
/// complaint must reach the stream's logger with the stream's id as `stream` metadata.
@Suite("FFmpeg messages carry their stream", .serialized)
struct FFmpegStreamLogTests {
    /// Slice threads decode some of a picture's slices with the decoder's context, frame threads
    /// whole pictures with copies of it, each on threads of their own: before the token in
    /// `opaque`, their messages went to the shared bucket without a stream.
    @Test(arguments: ["slice", "frame"])
    func messagesFromADecodersThreadsCarryTheirStream(threading: String) async throws {
        let dir = TempDir()
        let path = try await CorruptClip.make(dir, size: "640x360", slices: 4)
        FFmpegLog.installIfNone()
        let logs = LogLines()
        var logger = logs.logger
        logger[metadataKey: "stream"] = "p71"
        let scope = FFmpegLogScope(logger: logger)
        let caller = try scope.run { () throws(MediaError) -> UInt in
            try Self.decode(path, logger: logger, threads: (4, threading == "frame" ? tessera_ff_thread_frame() : tessera_ff_thread_slice()))
            return UInt(pthread_self())
        }
        let lines = logs.records.filter { $0.message.hasPrefix("ffmpeg:") }
        #expect(!lines.isEmpty, "the corrupt clip made FFmpeg say nothing")
        let strays = lines.filter { $0.stream != "p71" }
        #expect(strays.isEmpty, "\(strays.count) of \(lines.count) lines without their stream: \(strays.prefix(3).map(\.message))")
        #expect(lines.contains { $0.thread != caller }, "no line came from a \(threading) thread: \(lines.prefix(3).map(\.message))")
        #expect(lines.allSatisfy { $0.level == .warning }, "FFmpeg's errors are warnings")
    }

    /// The wall's own path: an engine playing a corrupt 1080p file with four slices a picture
    /// (four slice threads). Every decoding complaint carries the stream, and the stream's bucket
    /// bounds them all. (Which thread logs here is up to libavcodec's scheduling: the test above
    /// is the one that makes the decoder's threads log.)
    @Test func anEnginesSliceThreadsLogWithTheStreamAndItsRateLimit() async throws {
        let dir = TempDir()
        let path = try await CorruptClip.make(dir, size: "1920x1080", slices: 4)
        let logs = LogLines()
        var config = testConfiguration()
        config.loopFiles = false
        config.paceFiles = false
        let engine = MediaEngine(configuration: config, logger: logs.logger)
        defer { engine.shutdown() }
        let id = StreamID("p72")
        engine.update(desired: [StreamRequest(id: id, url: path, origin: .localConfig)])
        let box = try #require(engine.mailbox(for: id))
        let end = ContinuousClock.now + .seconds(60)
        while !engine.allFinished && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(50)) }
        #expect(engine.allFinished)
        // FFmpeg's decoding complaints (other tests' streams log theirs to their own loggers).
        let decoding = logs.records.filter { $0.message.contains("error while decoding MB") || $0.message.contains("concealing") }
        #expect(!decoding.isEmpty, "the corrupt clip made the decoder say nothing; lines: \(logs.all.prefix(5))")
        let strays = decoding.filter { $0.stream != "\(id)" }
        #expect(strays.isEmpty, "\(strays.count) of \(decoding.count) lines without their stream: \(strays.prefix(3).map(\.message))")
        let streamLines = logs.records.filter { $0.stream == "\(id)" && $0.message.hasPrefix("ffmpeg:") }
        let suppressed = box.snapshot.ffmpegLogSuppressed
        #expect(suppressed > 0, "the damage produced no more than the burst: \(streamLines.count) lines")
        #expect(streamLines.count <= FFmpegLog.burst + 6, "\(streamLines.count) lines for the stream")
    }

    /// Demuxes and decodes `path` to its end on the calling thread, as a stream's thread does.
    private static func decode(_ path: String, logger: Logger, threads: (Int32, Int32)) throws(MediaError) {
        let url = try URLPolicy().check(path, origin: .localConfig)
        let interrupt = Interrupt()
        interrupt.arm(.seconds(30))
        let input = try InputContext(url, interrupt: interrupt, ioTimeout: .seconds(30))
        let decoder = try Decoder(stream: input.videoStream, url: url.redacted, hardwareDevice: nil, logger: logger, threads: threads)
        let packet = try Packet()
        let clock = ContinuousClock()
        func drain() { while case .frame = decoder.receive(decodedAt: clock.now, arrivedAt: nil) {} }
        while input.read(into: packet) >= 0 {
            if packet.streamIndex == input.videoIndex { _ = decoder.send(packet); drain() }
            packet.unref()
        }
        _ = decoder.send(nil)
        drain()
    }
}

/// Two seconds of testsrc2 in H.264 (MPEG-TS) from the ffmpeg CLI, every packet but the keyframes
/// damaged by the `noise` bitstream filter (about one byte in 200).
enum CorruptClip {
    static func make(_ dir: TempDir, size: String, slices: Int) async throws -> String {
        let path = dir.path + "/corrupt-\(size)-\(slices).ts"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        p.arguments = ["-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=25", "-t", "2",
                       "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-x264-params", "slices=\(slices)",
                       "-bsf:v", "noise=amount=not(key)*200", "-f", "mpegts", "-y", path]
        let status: Int32 = try await withCheckedThrowingContinuation { c in
            p.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try p.run() } catch { p.terminationHandler = nil; c.resume(throwing: error) }
        }
        guard status == 0 else { throw CocoaError(.fileWriteUnknown) }
        return path
    }
}
