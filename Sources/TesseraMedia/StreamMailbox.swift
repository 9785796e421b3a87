import Foundation
import TesseraCore

/// One stream's meeting point between its decode thread and everyone else: the renderer's
/// `FrameSource` over the stream's frame slot (`FrameSlot`, with its lock-step mode) and its
/// state and statistics (`StreamStatsRecorder`). Every member is safe from any thread.
public final class StreamMailbox: FrameSource, Sendable {
    public let id: StreamID
    private let slot: FrameSlot
    private let recorder: StreamStatsRecorder

    init(id: StreamID, url: String, priority: StreamPriority, stallAfter: Duration, lockstep: Bool = false) {
        self.id = id
        slot = FrameSlot(lockstep: lockstep)
        recorder = StreamStatsRecorder(id: id, url: url, priority: priority, stallAfter: stallAfter)
    }

    // MARK: FrameSource (render thread)

    public func latestFrame() -> (any VideoFrame)? { slot.take() }

    /// Whether the mailbox holds a frame the renderer has not taken yet (the composition benchmark
    /// draws once every stream has one).
    public var hasUntakenFrame: Bool { slot.hasUntakenFrame }

    /// The newest frame as Media's own type (tests, `probe`).
    public func latestDecodedFrame() -> DecodedFrame? { slot.peek }

    public var state: StreamState { recorder.state(waitingForRenderer: waitingForRenderer) }

    public var priority: StreamPriority { recorder.priority }

    /// A copy of the statistics, with the rates and ages as of now.
    public var snapshot: StreamStats { recorder.snapshot(waitingForRenderer: waitingForRenderer) }

    /// Decode time, handoff overhead (packet read → frame in the mailbox, less the decode) and,
    /// for stamped test streams, capture → mailbox; all in milliseconds.
    public var latency: (decode: LatencyHistogram, handoff: LatencyHistogram, endToEnd: LatencyHistogram) {
        recorder.latency
    }

    /// Lock-step: a decoder holding a frame the renderer has not taken waits, it is not stalled.
    private var waitingForRenderer: Bool { slot.lockstep != nil && slot.hasUntakenFrame }

    // MARK: Engine and decode thread

    /// Lock-step only: blocks until the renderer took the last frame, or `timeout` seconds pass
    /// (false). Returns true at once when not in lock-step.
    func waitUntilTaken(timeout: Double) -> Bool { slot.waitUntilTaken(timeout: timeout) }

    func setPriority(_ p: StreamPriority) { recorder.priority = p }

    func setPhase(_ p: StreamState, clearFrame: Bool = false) {
        recorder.setPhase(p)
        if clearFrame { slot.clear() }
    }

    func update(_ body: (inout StreamStats) -> Void) { recorder.update(body) }

    func recordPacket(bytes: Int, at now: ContinuousClock.Instant) { recorder.recordPacket(bytes: bytes, at: now) }

    /// Puts `new` in the slot (the frame it replaces is released outside any lock) and counts it.
    func publish(_ new: DecodedFrame, decode: Duration, readAt: ContinuousClock.Instant, wallMicros: Int64) {
        let now = ContinuousClock.now
        let superseded = slot.put(new)
        recorder.recordFrame(corrupt: new.isCorrupt, stamp: new.stamp?.captureMicros, superseded: superseded,
                             decode: decode, readAt: readAt, at: now, wallMicros: wallMicros)
    }

    func recordError(_ error: MediaError) { recorder.recordError(error) }
}
