internal import CFFmpeg
import Foundation
import Synchronization
import TesseraCore
import TesseraFFmpeg
import TesseraMedia

/// Options of the test publisher (`tessera testsrc`).
public struct TestSourceOptions: Sendable {
    public var participant: Int = 1
    public var size = Size(width: 320, height: 180)
    public var fps: Int = 30
    /// Stop after this long (media time); nil: until `stop()`.
    public var seconds: Double? = nil
    /// Frames from one keyframe to the next (default: one second).
    public var gop: Int? = nil
    public var bitrateKbps: Int? = nil
    /// Send frames at their frame rate (live URLs), or as fast as they encode (files).
    public var realTime: Bool? = nil
    /// A background that scrolls and carries grain, so every macroblock changes every frame and
    /// the decoder does a camera's work (benchmarks). Off by default: flat backgrounds encode and
    /// decode fastest, which keeps tests with dozens of streams light.
    public var moving: Bool = false
    /// Seconds to wait before the first frame (`startMany` spreads the publishers' starts).
    public var startDelay: Double = 0
    /// Replay mode: the path of an H.264 MPEG-TS clip made by `tessera testsrc --to clip.ts`,
    /// sent as it is (looped) instead of encoding, with each picture's stamp rewritten at send
    /// time (see `TestPublisher`). `size`, `fps`, `gop`, `bitrateKbps` and `moving` do not apply.
    public var replay: String? = nil
    /// Replay mode: how far this publisher's clock is off the wall's, in microseconds, added to every
    /// capture stamp with wrapping arithmetic (tests: cameras with another clock, hostile stamps).
    public var clockOffsetMicros: Int64 = 0
    public init() {}
}

/// A publisher inside the project: encodes synthetic frames (`TestPattern`, stamped with
/// `TestStamp` SEI) with libx264 and sends them as MPEG-TS over UDP, SRT or TCP, or writes a
/// clip file (.ts, .mp4, .mkv). Tests, benchmarks and the demo use it; no external tool needed.
/// With `options.replay` it resends a .ts clip it wrote instead of encoding, restamping each
/// picture as it leaves (see `replay(_:)`): hundreds of live streams for little CPU.
///
/// `run()` blocks the calling thread; `start()` runs it on its own Thread; `stop()` from any
/// thread ends it within a frame.
public final class TestPublisher: @unchecked Sendable {
    public let url: String
    public let options: TestSourceOptions
    private let interrupt = Interrupt()
    private let worker: WorkerThread
    private let progress = Mutex<(framesSent: Int, error: MediaError?)>((0, nil))

    public init(url: String, options: TestSourceOptions) {
        self.url = url; self.options = options
        worker = WorkerThread(name: "testsrc \(options.participant)", stackSize: 1 << 20)
        FFmpegLog.installIfNone()
    }

    public var framesSent: Int { progress.withLock { $0.framesSent } }
    /// Why `start()`'s thread ended early, if it did.
    public var error: MediaError? { progress.withLock { $0.error } }

    public func start() {
        worker.start { [self] in
            do throws(MediaError) { try run() } catch { progress.withLock { $0.error = error } }
        }
    }

    public func stop() {
        worker.requestStop()
        interrupt.stop()
    }

    /// Waits for `start()`'s thread to end.
    @discardableResult
    public func join(timeout: Duration = .seconds(10)) -> Bool {
        worker.join(timeout: timeout)
    }

    private var isLive: Bool { url.contains("://") && !url.hasPrefix("file:") }

    /// Encodes (or, with `replay`, replays) and sends until `seconds` of media or `stop()`.
    public func run() throws(MediaError) {
        if options.startDelay > 0 {
            let clock = ContinuousClock()
            sleep(until: clock.now + .seconds(options.startDelay), clock: clock)
            if isStopping { return }
        }
        if let clip = options.replay { return try replay(clip) }
        let o = options
        guard o.size.width >= 16, o.size.height >= 16, o.size.width % 2 == 0, o.size.height % 2 == 0, o.fps > 0 else {
            throw .refused(url: url, reason: "size must be even and at least 16x16, fps positive")
        }
        let muxer = try PublishMuxer(url: url, live: isLive, interrupt: interrupt)
        let encoder = try Encoder(options: o, url: url, globalHeader: muxer.wantsGlobalHeader)
        let context = encoder.video.context.pointer
        try muxer.start(timeBase: context.pointee.time_base, operation: "avcodec_parameters_from_context") {
            avcodec_parameters_from_context($0, context)
        }
        let realTime = o.realTime ?? isLive
        let total = o.seconds.map { Int64(($0 * Double(o.fps)).rounded()) }
        let clock = ContinuousClock()
        let start = clock.now
        var n: Int64 = 0
        while total.map({ n < $0 }) ?? true {
            if realTime { sleep(until: start + .microseconds(n * 1_000_000 / Int64(o.fps)), clock: clock) }
            if isStopping { break }
            try encoder.encode(frame: n, participant: o.participant) { packet throws(FFmpegError) in try muxer.write(packet) }
            n += 1
            progress.withLock { $0.framesSent = Int(n) }
        }
        try encoder.flush { packet throws(FFmpegError) in try muxer.write(packet) }
        try muxer.finish()
    }
}

extension TestPublisher {
    private var isStopping: Bool { worker.isStopRequested }

    /// Sleeps until `due`, or until `stop()`.
    private func sleep(until due: ContinuousClock.Instant, clock: ContinuousClock) { worker.sleep(until: due) }
}

extension TestPublisher {
    /// Replay mode: sends the clip's packets as they are, at their timestamps, looping, with
    /// each picture's `TestStamp` rewritten (participant, running frame number, capture time =
    /// now) just before it is written. Costs a demux and a copy per picture instead of an encode,
    /// so one process can feed hundreds of live streams. Timestamps keep rising across loops.
    private func replay(_ path: String) throws(MediaError) {
        // The clip is this process's own configuration, opened as a local file would be by a tile.
        let checked = try URLPolicy().check(path, origin: .localConfig)
        func open() throws(MediaError) -> InputContext {
            let input = try InputContext(checked, interrupt: interrupt, ioTimeout: .seconds(10))
            let par = input.videoStream.pointee.codecpar.pointee
            guard par.codec_id == AV_CODEC_ID_H264 else {
                throw .noVideo(url: path, detail: "replay needs H.264 (an MPEG-TS clip from `tessera testsrc --to clip.ts`)")
            }
            // avcC extradata (first byte 1, as MP4 and MKV store it) means length-prefixed NAL
            // units, not the Annex B start codes the stamp rewriter and the MPEG-TS muxer need.
            if par.extradata_size > 0, par.extradata[0] == 1 {
                throw .noVideo(url: path, detail: "replay needs an Annex B clip (MPEG-TS, e.g. `tessera testsrc --to clip.ts`), not MP4/MKV")
            }
            return input
        }
        var input = try open()
        let stream = input.videoStream
        let timeBase = stream.pointee.time_base
        let muxer = try PublishMuxer(url: url, live: isLive, interrupt: interrupt)
        try muxer.start(timeBase: timeBase, operation: "avcodec_parameters_copy") { par in
            let rc = avcodec_parameters_copy(par, stream.pointee.codecpar)
            par.pointee.codec_tag = 0 // the clip container's tag may mean nothing in the output's
            return rc
        }

        let ticksPerSecond = Double(timeBase.den) / Double(timeBase.num)
        let fps = input.declaredFPS > 0 ? input.declaredFPS : 30
        let frameTicks = max(1, Int64((ticksPerSecond / fps).rounded()))
        let limit = options.seconds.map { Int64($0 * ticksPerSecond) }
        let realTime = options.realTime ?? isLive
        let nopts = tessera_av_nopts_value()
        let packet = try Packet()
        let clock = ContinuousClock()
        let start = clock.now
        var clipStart: Int64? = nil // the clip's first dts
        var loopBase: Int64 = 0     // output time of the current loop's first packet
        var end: Int64 = 0          // output time just after the last packet sent
        var lastDTS: Int64 = -1
        var frame: Int64 = 0
        var stamped = 0, picturesThisLoop = 0
        while !isStopping {
            let rc = input.read(into: packet)
            if rc == tessera_averror_eof() {
                guard picturesThisLoop > 0 else { throw .noVideo(url: path, detail: "the clip has no video packets") }
                if !input.rewind() { input = try open() } // the same file: same stream and time base
                loopBase = end; picturesThisLoop = 0
                continue
            }
            if rc == tessera_averror_eagain() { Thread.sleep(forTimeInterval: 0.002); continue } // as StreamWorker: try again
            if rc < 0 {
                if isStopping { break }
                throw .av("av_read_frame", path, rc)
            }
            defer { packet.unref() }
            let pkt = packet.pkt
            guard pkt.pointee.stream_index == input.videoIndex, pkt.pointee.size > 0 else { continue }
            let dts = pkt.pointee.dts != nopts ? pkt.pointee.dts : pkt.pointee.pts
            let pts = pkt.pointee.pts != nopts ? pkt.pointee.pts : dts
            // Output time: the clip's own timing, shifted to follow the previous loop, and never
            // back (the muxer refuses a dts that does not rise).
            var outDTS = end, outPTS = end
            if dts != nopts {
                if clipStart == nil { clipStart = dts }
                outDTS = max(dts - clipStart! + loopBase, lastDTS + 1)
                outPTS = max(pts - clipStart! + loopBase, outDTS)
            }
            if let limit, outDTS >= limit { break }
            if realTime { sleep(until: start + .seconds(Double(outDTS) / ticksPerSecond), clock: clock) }
            if isStopping { break }

            let stamp = TestStamp(participant: options.participant, frame: frame, captureMicros: WallClock.micros() &+ options.clockOffsetMicros)
            if let bytes = StampRewriter.rewrite(UnsafeRawBufferPointer(start: pkt.pointee.data, count: Int(pkt.pointee.size)), with: stamp) {
                try replace(pkt, with: bytes, path: path)
                stamped += 1
            } else if stamped == 0 && frame >= 10 {
                throw Self.noStamps(path)
            }
            let duration = pkt.pointee.duration > 0 ? pkt.pointee.duration : frameTicks
            pkt.pointee.dts = outDTS; pkt.pointee.pts = outPTS; pkt.pointee.duration = duration
            end = max(end, outDTS + duration); lastDTS = outDTS
            do throws(FFmpegError) { try muxer.write(pkt) } catch { throw .av(error, url) }
            frame += 1; picturesThisLoop += 1
            progress.withLock { $0.framesSent = Int(frame) }
        }
        if stamped == 0 && frame > 0 { throw Self.noStamps(path) }
        try muxer.finish()
    }

    private static func noStamps(_ path: String) -> MediaError {
        .refused(url: path, reason: "the clip's pictures carry no TestStamp SEI to rewrite; make one with `tessera testsrc --to clip.ts`")
    }

    /// Puts `bytes` in place of the packet's data (its own buffer afterwards; the length may differ).
    private func replace(_ pkt: UnsafeMutablePointer<AVPacket>, with bytes: [UInt8], path: String) throws(MediaError) {
        var rc = av_packet_make_writable(pkt)
        if rc < 0 { throw .av("av_packet_make_writable", path, rc) }
        let change = Int32(bytes.count) - pkt.pointee.size
        if change > 0 {
            rc = av_grow_packet(pkt, change)
            if rc < 0 { throw .av("av_grow_packet", path, rc) }
        } else if change < 0 {
            av_shrink_packet(pkt, Int32(bytes.count))
        }
        bytes.withUnsafeBytes { pkt.pointee.data.update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: bytes.count) }
    }
}

/// Publishers for several participants at once.
extension TestPublisher {
    /// Participants `first`, `first + 1`, … (`count` of them), each publishing with `options` to
    /// `URLTemplate.expand(urlTemplate, n: participant)`, each on its own thread, started.
    /// Their first frames are spread evenly over `spread` seconds, as independent cameras' would
    /// be: started together, every stream would send its keyframe in the same instant, and a
    /// wall would see a burst of keyframes each second that no real room produces.
    public static func startMany(urlTemplate: String, count: Int, first: Int = 1, options: TestSourceOptions,
                                 spread: Double = 1) -> [TestPublisher] {
        (first..<(first + count)).map { n in
            var o = options
            o.participant = n
            o.startDelay += spread * Double(n - first) / Double(count)
            let p = TestPublisher(url: URLTemplate.expand(urlTemplate, n: n), options: o)
            p.start()
            return p
        }
    }
}

/// libx264 with the least delay (ultrafast, zerolatency: no B-frames, no lookahead, one thread),
/// drawing the test pattern with its stamp into each picture.
private final class Encoder {
    let video: VideoEncoder
    let size: Size
    let moving: Bool
    private let url: String

    init(options o: TestSourceOptions, url: String, globalHeader: Bool) throws(MediaError) {
        self.url = url; size = o.size; moving = o.moving
        let kbps = o.bitrateKbps ?? max(150, o.size.width * o.size.height * o.fps / 2000)
        do throws(FFmpegError) {
            video = try VideoEncoder(codecs: ["libx264"], width: Int32(o.size.width), height: Int32(o.size.height),
                                     fps: Int32(o.fps), gop: Int32(o.gop ?? o.fps)) { c, _ in
                c.pointee.thread_count = 1
                c.pointee.bit_rate = Int64(kbps) * 1000
                c.pointee.colorspace = AVCOL_SPC_BT709
                c.pointee.color_primaries = AVCOL_PRI_BT709
                c.pointee.color_trc = AVCOL_TRC_BT709
                c.pointee.color_range = AVCOL_RANGE_MPEG
            }
            // udu_sei passes AV_FRAME_DATA_SEI_UNREGISTERED (the stamp) through (FFmpeg ≥ 5.1).
            try video.open(globalHeader: globalHeader, options: AVOptions([("preset", "ultrafast"), ("tune", "zerolatency"), ("udu_sei", "1")]))
        } catch {
            if error.code == tessera_averror(ENOSYS) { throw .noVideo(url: url, detail: "this libavcodec has no libx264 encoder") }
            throw .av(error, url)
        }
    }

    func encode(frame n: Int64, participant: Int, _ write: (UnsafeMutablePointer<AVPacket>) throws(FFmpegError) -> Void) throws(MediaError) {
        do throws(FFmpegError) {
            try video.makeWritable()
            let frame = video.picture.pointer
            TestPattern.draw(size: size, participant: participant, frame: n, moving: moving,
                             y: tessera_frame_plane_mut(frame, 0), yStride: Int(tessera_frame_linesize(frame, 0)),
                             cb: tessera_frame_plane_mut(frame, 1), cr: tessera_frame_plane_mut(frame, 2),
                             cStride: Int(tessera_frame_linesize(frame, 1)))
            av_frame_remove_side_data(frame, AV_FRAME_DATA_SEI_UNREGISTERED)
            let stamp = TestStamp(participant: participant, frame: n, captureMicros: WallClock.micros()).seiPayload
            if let sd = av_frame_new_side_data(frame, AV_FRAME_DATA_SEI_UNREGISTERED, stamp.count) {
                stamp.withUnsafeBytes { sd.pointee.data.update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: stamp.count) }
            }
            try video.send(pts: n, write)
        } catch {
            throw .av(error, url)
        }
    }

    func flush(_ write: (UnsafeMutablePointer<AVPacket>) throws(FFmpegError) -> Void) throws(MediaError) {
        do throws(FFmpegError) { try video.flush(write) } catch { throw .av(error, url) }
    }
}

/// The output side: MPEG-TS for network URLs (FLV for RTMP), the container the file name says
/// otherwise, over the shared `Muxer`; live outputs are fenced by the publisher's interrupt and
/// count write errors instead of failing (a UDP peer that is not listening is not the
/// publisher's failure).
private final class PublishMuxer {
    let muxer: Muxer
    let url: String
    private let live: Bool
    private let interrupt: Interrupt
    private var ioOptions = AVOptions()
    var writeErrors = 0

    var wantsGlobalHeader: Bool { muxer.wantsGlobalHeader }

    init(url: String, live: Bool, interrupt: Interrupt) throws(MediaError) {
        self.url = url; self.live = live; self.interrupt = interrupt
        var target = url
        if live, url.hasPrefix("udp://"), !url.contains("pkt_size=") {
            target += (url.contains("?") ? "&" : "?") + "pkt_size=1316"
        }
        // RTMP carries FLV; `rtmp://host:port/app/stream?listen=1` makes the publisher the server
        // (libavformat's `listen` option, which the rtmp protocol takes only as an option).
        let rtmp = url.hasPrefix("rtmp://")
        if rtmp, let q = target.firstIndex(of: "?") {
            if target[q...].contains("listen=1") { ioOptions.set("listen", "1") }
            target = String(target[..<q])
        }
        do throws(FFmpegError) { muxer = try Muxer(target: target, format: live ? (rtmp ? "flv" : "mpegts") : nil) } catch { throw .av(error, url) }
    }

    /// Fills the stream's codec parameters with `parameters`, opens the output and writes the
    /// header. Packets given to `write` are then in `timeBase`.
    func start(timeBase: AVRational, operation: String,
               parameters: (UnsafeMutablePointer<AVCodecParameters>) -> Int32) throws(MediaError) {
        var header = AVOptions()
        if live {
            header.set("muxdelay", "0"); header.set("muxpreload", "0")
            // With the PES length written, a receiver's demuxer can hand each picture on as soon as
            // its last TS packet arrives instead of waiting for the next picture to start.
            header.set("omit_video_pes_length", "0")
        }
        do throws(FFmpegError) {
            try muxer.start(timeBase: timeBase, operation: operation, live: live, interrupt: tessera_interrupt_cb(interrupt.state),
                            ioOptions: ioOptions, headerOptions: header, parameters: parameters)
        } catch {
            throw .av(error, url)
        }
    }

    func write(_ packet: UnsafeMutablePointer<AVPacket>) throws(FFmpegError) {
        do throws(FFmpegError) { try muxer.write(packet) } catch {
            if live { writeErrors += 1 } else { throw error }
        }
    }

    func finish() throws(MediaError) {
        do throws(FFmpegError) { try muxer.finish() } catch { throw .av(error, url) }
    }
}
