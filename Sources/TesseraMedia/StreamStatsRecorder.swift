import Foundation
import Synchronization
import TesseraCore

/// One stream's state and statistics: phase, priority, counters, latency histograms and rate
/// windows. Written by the decode thread, read by anyone; the lock is held only for a few
/// counters.
final class StreamStatsRecorder: Sendable {
    private struct Record {
        var phase: StreamState = .connecting
        var priority: StreamPriority
        var lastFrameAt: ContinuousClock.Instant?
        var lastPacketAt: ContinuousClock.Instant?
        var stats: StreamStats
        var decodeHistogram = LatencyHistogram()
        var handoffHistogram = LatencyHistogram()
        var endToEndHistogram = LatencyHistogram()
        var decodeTotalMs = 0.0
        // Rate windows: counts since `windowStart`, turned into fps/kbps about once a second.
        var windowStart = ContinuousClock.now
        var windowFrames = 0
        var windowBytes = 0

        mutating func rollWindow(_ now: ContinuousClock.Instant) {
            let elapsed = (now - windowStart).seconds
            guard elapsed >= 1 else { return }
            stats.fps = Double(windowFrames) / elapsed
            stats.kbps = Double(windowBytes) * 8 / 1000 / elapsed
            windowStart = now; windowFrames = 0; windowBytes = 0
        }

        /// `waitingForRenderer`: a lock-step decoder holds a frame the renderer has not taken.
        func state(now: ContinuousClock.Instant, stallAfter: Duration, waitingForRenderer: Bool) -> StreamState {
            guard phase == .playing else { return phase }
            // Lock-step: a decoder with a frame not yet taken is waiting for the renderer, not stalled.
            // (Called stalled, its tile showed the slate, never took the frame, and the stream waited
            // for ever: `bench compose` crawled at one output frame per 5 s for 12 minutes.)
            if waitingForRenderer { return .playing }
            // Warm streams decode only keyframes: they are alive while packets arrive.
            let last = priority == .warm ? lastPacketAt : lastFrameAt
            if let last, now - last > stallAfter { return .stalled }
            return .playing
        }
    }
    private let record: Mutex<Record>
    private let stallAfter: Duration

    init(id: StreamID, url: String, priority: StreamPriority, stallAfter: Duration) {
        self.stallAfter = stallAfter
        var stats = StreamStats(id: id.description, url: url)
        stats.priority = priority.rawValue
        record = Mutex(Record(priority: priority, stats: stats))
    }

    func state(waitingForRenderer: Bool) -> StreamState {
        record.withLock { $0.state(now: .now, stallAfter: stallAfter, waitingForRenderer: waitingForRenderer) }
    }

    var priority: StreamPriority {
        get { record.withLock { $0.priority } }
        set { record.withLock { $0.priority = newValue } }
    }

    func setPhase(_ p: StreamState) { record.withLock { $0.phase = p } }

    /// A copy of the statistics, with the rates and ages as of now.
    func snapshot(waitingForRenderer: Bool) -> StreamStats {
        record.withLock { r in
            let now = ContinuousClock.now
            var s = r.stats
            s.state = r.state(now: now, stallAfter: stallAfter, waitingForRenderer: waitingForRenderer)
            s.priority = r.priority.rawValue
            s.lastFrameAgeMs = r.lastFrameAt.map { (now - $0).microseconds / 1000 }
            s.decodeMs = r.stats.framesDecoded > 0 ? r.decodeTotalMs / Double(r.stats.framesDecoded) : 0
            if now - r.windowStart > .seconds(3) { s.fps = 0; s.kbps = 0 } // nothing arrived lately
            return s
        }
    }

    var latency: (decode: LatencyHistogram, handoff: LatencyHistogram, endToEnd: LatencyHistogram) {
        record.withLock { ($0.decodeHistogram, $0.handoffHistogram, $0.endToEndHistogram) }
    }

    func update(_ body: (inout StreamStats) -> Void) {
        record.withLock { body(&$0.stats) }
    }

    func recordPacket(bytes: Int, at now: ContinuousClock.Instant) {
        record.withLock { r in
            r.lastPacketAt = now
            r.windowBytes += bytes
            r.rollWindow(now)
        }
    }

    /// A frame reached the slot at `now`; `superseded`: it replaced one nobody took.
    func recordFrame(corrupt: Bool, stamp: Int64?, superseded: Bool, decode: Duration,
                     readAt: ContinuousClock.Instant, at now: ContinuousClock.Instant, wallMicros: Int64) {
        record.withLock { r in
            if superseded { r.stats.framesSuperseded += 1 }
            r.lastFrameAt = now
            r.phase = .playing
            r.stats.framesDecoded += 1
            if corrupt { r.stats.framesCorrupt += 1 }
            let decodeUs = decode.microseconds
            r.decodeTotalMs += decodeUs / 1000
            r.decodeHistogram.record(microseconds: decodeUs)
            r.handoffHistogram.record(microseconds: max(0, (now - readAt).microseconds - decodeUs))
            if let stamp {
                if let age = WallClock.age(ofStamp: stamp, now: wallMicros) {
                    r.endToEndHistogram.record(microseconds: Double(age))
                } else {
                    r.stats.stampsIgnored += 1
                }
            }
            r.windowFrames += 1
            r.rollWindow(now)
        }
    }

    func recordError(_ error: MediaError) {
        record.withLock { $0.stats.errors += 1; $0.stats.lastError = error.description }
    }
}
