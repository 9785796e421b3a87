import Foundation

/// Keeps a stream's pictures near its own clock. When a packet comes more than `after` behind when
/// it was due, the stream stops decoding and skips ahead (reading only) to a keyframe that is on
/// time, instead of showing ever older pictures: at 250 × 320x180@30 on 2 cores the decoders
/// cannot keep up, and each tile showed its participant 4–9 s late (BENCHMARKS.md, issue 16).
/// A tile that has to catch up freezes until that keyframe; then it is live again.
///
/// A packet's lag is its offset (arrival − media time, seconds) less the stream's on-time offset,
/// the smallest seen. For a paced file the arrival is when its pace let it through, so the lag is
/// how far behind its pace it is read. The on-time offset may creep up 1 ms a second (`drift`), so
/// a sender whose clock runs slower than ours is never taken for lag. It starts over
/// - when a lag is beyond `jumpBeyond`: the timestamps jumped (a publisher restarted its clock);
/// - when catching up has found no on-time keyframe for `rebaseAfter` seconds: skipping costs
///   only reads, so any backlog is gone by then, and what is left is a step back of the timestamps.
struct CatchUp {
    /// Lag, in seconds, beyond which the stream skips ahead (`MediaConfiguration.catchUpAfter`).
    let after: Double
    static let drift = 0.001
    static let jumpBeyond = 30.0
    static let rebaseAfter = 2.0

    private var onTimeOffset: Double?
    private var lastArrival = 0.0
    /// Since when (arrival seconds) the stream skips ahead; nil while it decodes.
    private(set) var catchingUpSince: Double?

    init(after: Double) { self.after = after }

    enum Verdict: Equatable {
        case decode
        /// Not decoded: the stream is catching up.
        case skip
        /// Not decoded: the stream fell `lag` seconds behind and starts catching up.
        case fellBehind(lag: Double)
    }

    /// What to do with a packet that arrived at `arrival` seconds with media time `media` seconds.
    /// While catching up, only keyframes may be passed (the others wait for a keyframe anyway).
    mutating func packet(arrival: Double, media: Double) -> Verdict {
        let lag = lag(arrival: arrival, media: media)
        if let since = catchingUpSince {
            if lag <= after { catchingUpSince = nil; return .decode }
            if arrival - since > Self.rebaseAfter { onTimeOffset = nil; catchingUpSince = nil; return .decode }
            return .skip
        }
        guard lag > after else { return .decode }
        catchingUpSince = arrival
        return .fellBehind(lag: lag)
    }

    /// Forgets the on-time offset (a warm stream becoming visible starts from a fresh keyframe).
    mutating func reset() { onTimeOffset = nil; catchingUpSince = nil }

    private mutating func lag(arrival: Double, media: Double) -> Double {
        let offset = arrival - media
        guard offset.isFinite, arrival.isFinite else { return 0 }
        defer { lastArrival = arrival }
        guard var onTime = onTimeOffset else { onTimeOffset = offset; return 0 }
        onTime = min(offset, onTime + Self.drift * max(0, arrival - lastArrival))
        let lag = offset - onTime
        if lag > Self.jumpBeyond { onTimeOffset = offset; return 0 }
        onTimeOffset = onTime
        return lag
    }
}
