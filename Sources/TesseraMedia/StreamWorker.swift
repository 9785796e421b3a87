internal import CFFmpeg
import Foundation
import Logging
import TesseraCore
import TesseraFFmpeg

/// One stream's decode thread: open → wait for a keyframe → decode into the mailbox, and on any
/// failure close, go `offline`, wait (exponential backoff with jitter) and open again, until
/// stopped. Everything here runs on the worker's own Thread, never on Swift's cooperative pool;
/// `stop()` may be called from any thread and ends any blocking call at once.
final class StreamWorker: @unchecked Sendable {
    let id: StreamID
    let url: CheckedURL
    let mailbox: StreamMailbox
    private let config: MediaConfiguration
    /// Carries `stream` metadata.
    private let logger: Logger
    private let hardware: HardwareDevice?
    private let gate: DecodeGate
    private let interrupt = Interrupt()
    private let worker: WorkerThread
    private let clock = ContinuousClock()
    /// Load shedding, set from outside (StreamShedding.swift).
    let shedding = SheddingControl()
    private var showThrottle = ShowThrottle()

    init(request: StreamRequest, url: CheckedURL, config: MediaConfiguration, logger: Logger, hardware: HardwareDevice?, gate: DecodeGate) {
        id = request.id; self.url = url; self.config = config; self.logger = logger; self.hardware = hardware; self.gate = gate
        mailbox = StreamMailbox(id: request.id, url: url.redacted, priority: request.priority, stallAfter: config.stallAfter,
                                lockstep: config.lockstepFiles && url.isFile)
        worker = WorkerThread(name: "media \(request.id)", stackSize: config.threadStackBytes, priority: .background)
    }

    func start() {
        worker.start { [self] in
            // FFmpeg's messages from this thread and about this stream's contexts are this
            // stream's, rate-limited (FFmpegLog).
            let mailbox = mailbox
            FFmpegLogScope(logger: logger, onSuppressed: { mailbox.update { $0.ffmpegLogSuppressed += 1 } }).run { run() }
        }
    }

    /// Asks the thread to end; returns at once.
    func stop() {
        worker.requestStop()
        interrupt.stop()
    }

    /// Waits until the thread has ended; false if it did not within `timeout`.
    @discardableResult
    func join(timeout: Duration) -> Bool { worker.join(timeout: timeout) }

    var isFinished: Bool { worker.isFinished }

    private var stopping: Bool { worker.isStopRequested }

    /// Sleeps up to `d`; returns false if stopped meanwhile.
    private func sleep(_ d: Duration) -> Bool { worker.sleep(for: d) }

    /// The delay before reconnect attempt `n` (1-based): initial × 2^(n-1), capped, ± jitter.
    static func backoff(attempt n: Int, config: MediaConfiguration) -> Duration {
        let base = min(config.backoffMax.seconds, config.backoffInitial.seconds * pow(2, Double(max(0, n - 1))))
        let j = config.backoffJitter
        return .microseconds(Int64(base * Double.random(in: (1 - j)...(1 + j)) * 1e6))
    }

    private func run() {
        var failures = 0
        var useHardware = hardware != nil
        while !stopping {
            var reachedPicture = false
            let sessionStart = clock.now
            do {
                try session(useHardware: &useHardware, reachedPicture: &reachedPicture)
                // A file ended: loop it at once, or stop for good (lock-step: once its last frame was taken).
                if !config.loopFiles {
                    while !mailbox.waitUntilTaken(timeout: 0.1) { if stopping { break } }
                    break
                }
                failures = 0
                continue
            } catch {
                if stopping { break }
                mailbox.recordError(error)
                logger.log(level: reachedPicture ? .warning : .info, "\(error)")
            }
            if reachedPicture { failures = 0 }
            failures += 1
            mailbox.setPhase(.offline, clearFrame: true)
            // The backoff spaces out attempts that fail fast (a refused connection). A session
            // that already waited that long — a UDP open listening for data until its timeout, a
            // stream that went silent — opens again at once: the new open is itself the wait,
            // and it returns as soon as the publisher is back.
            let wait = Self.backoff(attempt: failures, config: config) - (clock.now - sessionStart)
            if wait > .zero { guard sleep(wait) else { break } }
            mailbox.update { $0.reconnects += 1 }
        }
        mailbox.setPhase(.offline, clearFrame: true)
    }

    /// One connection, from open to the error that ends it (or a file's end).
    private func session(useHardware: inout Bool, reachedPicture: inout Bool) throws(MediaError) {
        let openedAt = clock.now
        interrupt.arm(config.openTimeout)
        let input = try InputContext(url, interrupt: interrupt, ioTimeout: config.openTimeout)
        let stream = input.videoStream
        let decoder: Decoder
        if useHardware, let hardware {
            do { decoder = try Decoder(stream: stream, url: url.redacted, hardwareDevice: hardware, logger: logger) } catch {
                logger.debug("VAAPI decoder failed (\(error)); decoding in software")
                useHardware = false
                decoder = try Decoder(stream: stream, url: url.redacted, hardwareDevice: nil, logger: logger)
            }
        } else {
            decoder = try Decoder(stream: stream, url: url.redacted, hardwareDevice: nil, logger: logger)
        }
        let par = stream.pointee.codecpar.pointee
        mailbox.update { s in
            s.codec = decoder.codecName; s.hardware = decoder.hardware
            if par.width > 0 { s.width = Int(par.width); s.height = Int(par.height) }
            s.timeToFirstFrameMs = nil
        }
        let timeBase = stream.pointee.time_base
        let videoIndex = input.videoIndex
        let codecID = par.codec_id.rawValue
        let packet = try Packet()
        var waitingForKey = true
        var firstPicture = true
        var lastPictureAt = openedAt
        // Pacing of files: the media time of the first packet, and when it was read.
        var paceOrigin: (pts: Double, at: ContinuousClock.Instant)?
        let pace = url.isFile && config.paceFiles
        var applied: StreamShedding?
        // Lock-step and unpaced files are read as fast as they decode: they have no clock to keep.
        var catchUp = config.catchUpAfter.flatMap { after in
            !url.isFile || (pace && !config.lockstepFiles) ? CatchUp(after: after.seconds) : nil
        }

        while true {
            if stopping { return }
            let warm = mailbox.priority == .warm
            if warm != decoder.keyframesOnly {
                decoder.keyframesOnly = warm
                // Back to every frame: the skipped ones are missing as references until a keyframe.
                if !warm { waitingForKey = true }
                applied = nil
                catchUp?.reset()
            }
            let shed = shedding.current
            if !warm && shed != applied { decoder.applyShedding(shed); applied = shed }
            let rc = input.read(into: packet)
            let readAt = clock.now
            if rc < 0 {
                if rc == tessera_averror_eagain() { _ = sleep(.milliseconds(2)); continue }
                if stopping { return }
                if rc == tessera_averror_eof() {
                    if url.isFile { drain(decoder, readAt: readAt, firstPicture: &firstPicture, openedAt: openedAt); return }
                    throw .endOfStream(url: url.redacted)
                }
                if interrupt.deadlinePassed {
                    let what = firstPicture ? "waiting for the first picture" : "waiting for the next picture"
                    throw .timedOut(operation: what, url: url.redacted,
                                    seconds: (firstPicture ? config.openTimeout : config.offlineAfter).seconds)
                }
                throw .av("av_read_frame", url.redacted, rc)
            }
            defer { packet.unref() }
            guard packet.streamIndex == videoIndex else { continue }
            mailbox.recordPacket(bytes: packet.size, at: readAt)
            if packet.isCorrupt { mailbox.update { $0.errors += 1; $0.packetsCorrupt += 1 } }
            if warm && !firstPicture { interrupt.arm(config.offlineAfter) }
            if waitingForKey {
                guard packet.isKeyframe(codec: codecID) else {
                    if catchUp?.catchingUpSince != nil {
                        // Packets come: the stream is alive while it waits for its keyframe.
                        mailbox.update { $0.packetsSkippedBehind += 1 }
                        interrupt.arm(config.offlineAfter)
                    } else {
                        mailbox.update { $0.packetsSkipped += 1 }
                    }
                    continue
                }
                waitingForKey = false
            }
            if pace {
                let pts = packet.pkt.pointee.pts
                if pts != tessera_av_nopts_value() {
                    let t = Double(pts) * Double(timeBase.num) / Double(timeBase.den)
                    if let o = paceOrigin {
                        // pts and time base come from the file: any value. A gap that is no
                        // plausible media time (not finite, beyond a day) is not waited for.
                        let gap = (t - o.pts) * 1e6
                        let due = gap.isFinite && abs(gap) < 86_400e6 ? o.at + .microseconds(Int64(gap)) : clock.now
                        if due > clock.now, !sleep(due - clock.now) { return }
                    } else {
                        paceOrigin = (t, readAt)
                    }
                }
            }
            // Arrival: when the packet was read, or for a paced file, when its time came. Waiting for
            // a decode token (DecodeGate) counts in the latency, not in the decode time.
            let arrivedAt = pace ? clock.now : readAt
            if !warm && !firstPicture, var c = catchUp, let media = packet.mediaSeconds(timeBase) {
                let verdict = c.packet(arrival: (arrivedAt - openedAt).seconds, media: media)
                catchUp = c
                switch verdict {
                case .decode:
                    break
                case .skip:
                    waitingForKey = true
                    mailbox.update { $0.packetsSkippedBehind += 1 }
                    continue
                case .fellBehind(let lag):
                    waitingForKey = true
                    mailbox.update { $0.packetsSkippedBehind += 1; $0.catchUps += 1 }
                    logger.debug("\(String(format: "%.1f", lag)) s behind: skipping ahead to a keyframe on time")
                    continue
                }
            }
            guard gate.enter(stopping: { stopping }) else { return }
            let t0 = clock.now
            let sent = decoder.send(packet)
            var pictures: [(DecodedFrame, Duration)] = []
            var failed: Int32?
            receiving: while true {
                switch decoder.receive(decodedAt: clock.now, arrivedAt: arrivedAt) {
                case .frame(let frame):
                    pictures.append((frame, clock.now - t0))
                case .again, .end:
                    break receiving
                case .failed(let code):
                    failed = code
                    break receiving
                }
            }
            gate.leave()
            if sent < 0 && sent != tessera_averror_eagain() {
                mailbox.recordError(.av("avcodec_send_packet", url.redacted, sent))
            }
            if let failed { mailbox.recordError(.av("avcodec_receive_frame", url.redacted, failed)) }
            let gotPicture = !pictures.isEmpty
            for (frame, decode) in pictures {
                publish(frame, decode: decode, readAt: arrivedAt, firstPicture: &firstPicture, openedAt: openedAt)
            }
            if !gotPicture && !warm && shed.skipNonReference && sent >= 0 { mailbox.update { $0.framesSkippedNonReference += 1 } }
            if gotPicture {
                reachedPicture = true
                lastPictureAt = clock.now
                if !warm { interrupt.arm(config.offlineAfter) }
            } else if !warm && !firstPicture && clock.now - lastPictureAt > config.offlineAfter {
                // Packets keep coming but nothing decodes: start again from a clean demuxer and decoder.
                throw .noPictures(url: url.redacted, seconds: config.offlineAfter.seconds)
            }
        }
    }

    private func publish(_ frame: DecodedFrame, decode: Duration, readAt: ContinuousClock.Instant,
                         firstPicture: inout Bool, openedAt: ContinuousClock.Instant) {
        if firstPicture {
            firstPicture = false
            let ttff = (clock.now - openedAt).microseconds / 1000
            mailbox.update { s in s.timeToFirstFrameMs = ttff; s.width = frame.size.width; s.height = frame.size.height }
            logger.debug("first picture after \(Int(ttff)) ms")
        }
        guard showThrottle.admit(at: clock.now, maxPerSecond: shedding.current.maxShownPerSecond) else {
            mailbox.update { $0.framesDecoded += 1; $0.framesNotShown += 1 }
            return
        }
        // Lock-step files: wait (waking now and then to notice a stop) until the last frame was taken.
        while !mailbox.waitUntilTaken(timeout: 0.1) { if stopping { return } }
        mailbox.publish(frame, decode: decode, readAt: readAt, wallMicros: WallClock.micros())
    }

    /// At a file's end: the pictures still inside the decoder.
    private func drain(_ decoder: Decoder, readAt: ContinuousClock.Instant, firstPicture: inout Bool, openedAt: ContinuousClock.Instant) {
        _ = decoder.send(nil)
        while case .frame(let frame) = decoder.receive(decodedAt: clock.now, arrivedAt: readAt) {
            publish(frame, decode: .zero, readAt: readAt, firstPicture: &firstPicture, openedAt: openedAt)
        }
    }
}
