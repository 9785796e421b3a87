import Foundation
import TesseraCore

/// One stream's meeting point between its decode thread and everyone else: the single-slot
/// frame mailbox the renderer reads (newest frame wins; the one it replaces is released), the
/// stream's state, and its statistics. Every member is safe from any thread; the lock is held only
/// for a pointer swap or a few counters, never across FFmpeg calls.
public final class StreamMailbox: FrameSource, @unchecked Sendable {
    public let id: StreamID
    private let lock = NSLock()
    private let stallAfter: Duration
    private var frame: DecodedFrame?
    private var frameTaken = true
    private var phase: StreamState = .connecting
    private var _priority: StreamPriority
    private var lastFrameAt: ContinuousClock.Instant?
    private var lastPacketAt: ContinuousClock.Instant?
    private var stats: StreamStats
    private var decodeHistogram = LatencyHistogram()
    private var handoffHistogram = LatencyHistogram()
    private var endToEndHistogram = LatencyHistogram()
    private var decodeTotalMs = 0.0
    // Rate windows: counts since `windowStart`, turned into fps/kbps about once a second.
    private var windowStart = ContinuousClock.now
    private var windowFrames = 0
    private var windowBytes = 0

    /// Lock-step (MediaConfiguration.lockstepFiles): the decode thread waits for `frameTaken`.
    private let lockstep: Bool
    private let takenCondition = NSCondition()

    init(id: StreamID, url: String, priority: StreamPriority, stallAfter: Duration, lockstep: Bool = false) {
        self.id = id; self.stallAfter = stallAfter; _priority = priority; self.lockstep = lockstep
        stats = StreamStats(id: id.description, url: url)
        stats.priority = priority.rawValue
    }

    // MARK: FrameSource (render thread)

    public func latestFrame() -> (any VideoFrame)? {
        lock.lock()
        frameTaken = true
        let f = frame
        lock.unlock()
        if lockstep { takenCondition.lock(); takenCondition.broadcast(); takenCondition.unlock() }
        return f
    }

    /// Whether the mailbox holds a frame the renderer has not taken yet (the composition benchmark
    /// draws once every stream has one).
    public var hasUntakenFrame: Bool {
        lock.lock(); defer { lock.unlock() }
        return frame != nil && !frameTaken
    }

    /// The newest frame as Media's own type (tests, `probe`).
    public func latestDecodedFrame() -> DecodedFrame? {
        lock.lock(); defer { lock.unlock() }
        return frame
    }

    public var state: StreamState {
        lock.lock(); defer { lock.unlock() }
        return currentState(now: .now)
    }

    private func currentState(now: ContinuousClock.Instant) -> StreamState {
        guard phase == .playing else { return phase }
        // Lock-step: a decoder with a frame not yet taken is waiting for the renderer, not stalled.
        // (Called stalled, its tile showed the slate, never took the frame, and the stream waited
        // for ever: `bench compose` crawled at one output frame per 5 s for 12 minutes.)
        if lockstep, frame != nil, !frameTaken { return .playing }
        // Warm streams decode only keyframes: they are alive while packets arrive.
        let last = _priority == .warm ? lastPacketAt : lastFrameAt
        if let last, now - last > stallAfter { return .stalled }
        return .playing
    }

    public var priority: StreamPriority {
        lock.lock(); defer { lock.unlock() }
        return _priority
    }

    /// A copy of the statistics, with the rates and ages as of now.
    public var snapshot: StreamStats {
        lock.lock(); defer { lock.unlock() }
        let now = ContinuousClock.now
        var s = stats
        s.state = currentState(now: now)
        s.priority = _priority.rawValue
        s.lastFrameAgeMs = lastFrameAt.map { (now - $0).microseconds / 1000 }
        s.decodeMs = stats.framesDecoded > 0 ? decodeTotalMs / Double(stats.framesDecoded) : 0
        if now - windowStart > .seconds(3) { s.fps = 0; s.kbps = 0 } // nothing arrived lately
        return s
    }

    /// Decode time, handoff overhead (packet read → frame in the mailbox, less the decode) and,
    /// for stamped test streams, capture → mailbox; all in milliseconds.
    public var latency: (decode: LatencyHistogram, handoff: LatencyHistogram, endToEnd: LatencyHistogram) {
        lock.lock(); defer { lock.unlock() }
        return (decodeHistogram, handoffHistogram, endToEndHistogram)
    }

    // MARK: Engine and decode thread

    /// Lock-step only: blocks until the renderer took the last frame, or `timeout` seconds pass
    /// (false). Returns true at once when not in lock-step.
    func waitUntilTaken(timeout: Double) -> Bool {
        guard lockstep else { return true }
        let deadline = Date().addingTimeInterval(timeout)
        takenCondition.lock(); defer { takenCondition.unlock() }
        while true {
            lock.lock(); let taken = frameTaken || frame == nil; lock.unlock()
            if taken { return true }
            if !takenCondition.wait(until: deadline) { return false }
        }
    }

    func setPriority(_ p: StreamPriority) { lock.lock(); _priority = p; lock.unlock() }

    func setPhase(_ p: StreamState, clearFrame: Bool = false) {
        lock.lock()
        phase = p
        let old = clearFrame ? frame : nil
        if clearFrame { frame = nil; frameTaken = true }
        lock.unlock()
        _ = old // released outside the lock
    }

    func update(_ body: (inout StreamStats) -> Void) {
        lock.lock(); body(&stats); lock.unlock()
    }

    func recordPacket(bytes: Int, at now: ContinuousClock.Instant) {
        lock.lock()
        lastPacketAt = now
        windowBytes += bytes
        rollWindow(now)
        lock.unlock()
    }

    /// Puts `new` in the slot; the frame it replaces is released after the lock is dropped.
    func publish(_ new: DecodedFrame, decode: Duration, readAt: ContinuousClock.Instant, wallMicros: Int64) {
        let now = ContinuousClock.now
        lock.lock()
        let old = frame
        if !frameTaken && old != nil { stats.framesSuperseded += 1 }
        frame = new
        frameTaken = false
        lastFrameAt = now
        phase = .playing
        stats.framesDecoded += 1
        if new.isCorrupt { stats.framesCorrupt += 1 }
        let decodeUs = decode.microseconds
        decodeTotalMs += decodeUs / 1000
        decodeHistogram.record(microseconds: decodeUs)
        handoffHistogram.record(microseconds: max(0, (now - readAt).microseconds - decodeUs))
        if let stamp = new.stamp {
            if let age = WallClock.age(ofStamp: stamp.captureMicros, now: wallMicros) {
                endToEndHistogram.record(microseconds: Double(age))
            } else {
                stats.stampsIgnored += 1
            }
        }
        windowFrames += 1
        rollWindow(now)
        lock.unlock()
        _ = old
    }

    private func rollWindow(_ now: ContinuousClock.Instant) {
        let elapsed = (now - windowStart).seconds
        guard elapsed >= 1 else { return }
        stats.fps = Double(windowFrames) / elapsed
        stats.kbps = Double(windowBytes) * 8 / 1000 / elapsed
        windowStart = now; windowFrames = 0; windowBytes = 0
    }

    func recordError(_ error: MediaError) {
        lock.lock(); stats.errors += 1; stats.lastError = error.description; lock.unlock()
    }
}
