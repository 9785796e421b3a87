internal import CFFmpeg
import Foundation
import Synchronization
import TesseraCore

/// How much of one stream's work the wall sheds while the machine cannot keep up: set from outside
/// (the kiosk's `LoadShedder`) through `MediaEngine.setShedding(_:for:)`, read by the stream's decode
/// thread before each packet. `.none`, the default, decodes and shows every frame.
public struct StreamShedding: Hashable, Sendable, CustomStringConvertible {
    /// Frames no other frame refers to are not decoded (`AVCodecContext.skip_frame =
    /// AVDISCARD_NONREF`): B-frames and the non-reference P-frames of temporally layered streams.
    /// Exact: every other frame decodes as before. Streams without such frames (libx264
    /// `zerolatency`, most cameras' IPPP) have nothing to skip.
    public var skipNonReference: Bool
    /// The deblocking filter is skipped (`skip_loop_filter`) on non-reference frames (exact for the
    /// frames after them), or on every frame (a little blockiness that builds up until the next
    /// keyframe: for tiles small enough that it does not show).
    public var skipLoopFilter: LoopFilter
    /// At most this many pictures a second go to the renderer; the others are decoded (later frames
    /// refer to them) but never drawn. nil: every picture.
    public var maxShownPerSecond: Double?

    public enum LoopFilter: String, Hashable, Sendable { case never, nonReference, always }

    public init(skipNonReference: Bool = false, skipLoopFilter: LoopFilter = .never, maxShownPerSecond: Double? = nil) {
        self.skipNonReference = skipNonReference; self.skipLoopFilter = skipLoopFilter; self.maxShownPerSecond = maxShownPerSecond
    }

    public static let none = StreamShedding()

    public var description: String {
        var parts: [String] = []
        if skipNonReference { parts.append("non-reference frames skipped") }
        if skipLoopFilter != .never { parts.append("deblocking off (\(skipLoopFilter.rawValue))") }
        if let r = maxShownPerSecond { parts.append("at most \(Int(r)) pictures/s shown") }
        return parts.isEmpty ? "nothing shed" : parts.joined(separator: ", ")
    }
}

/// A stream's shedding setting, written by anyone, read by its decode thread.
final class SheddingControl: Sendable {
    private let setting = Mutex(StreamShedding.none)
    var current: StreamShedding { setting.withLock { $0 } }
    func set(_ s: StreamShedding) { setting.withLock { $0 = s } }
}

/// Which decoded pictures go to the renderer under `StreamShedding.maxShownPerSecond`: a token
/// bucket refilled at the rate, holding up to 1.5 pictures, so a 30 frames/s stream capped at 15
/// shows every other picture and a 25 frames/s one three of five, evenly, with arrival jitter of a
/// quarter of a picture tolerated.
struct ShowThrottle {
    private var tokens = 1.5
    private var last: ContinuousClock.Instant?

    mutating func admit(at now: ContinuousClock.Instant, maxPerSecond: Double?) -> Bool {
        defer { last = now }
        guard let rate = maxPerSecond, rate > 0, rate.isFinite else { tokens = 1.5; return true }
        if let last, now > last { tokens = min(1.5, tokens + (now - last).seconds * rate) }
        guard tokens >= 0.75 else { return false }
        tokens -= 1
        return true
    }
}

extension Decoder {
    /// Applies `s` to the codec context (a visible stream's; warm ones decode keyframes only).
    func applyShedding(_ s: StreamShedding) {
        ctx.pointee.skip_frame = s.skipNonReference ? AVDISCARD_NONREF : AVDISCARD_DEFAULT
        ctx.pointee.skip_loop_filter = switch s.skipLoopFilter {
        case .never: AVDISCARD_DEFAULT
        case .nonReference: AVDISCARD_NONREF
        case .always: AVDISCARD_ALL
        }
    }
}

extension MediaEngine {
    /// Sets how much of stream `id`'s work is shed (no effect when it is not open). Thread-safe;
    /// the stream's decode thread applies it before its next packet.
    public func setShedding(_ s: StreamShedding, for id: StreamID) {
        worker(for: id)?.shedding.set(s)
    }

    /// The shedding set for stream `id` (`.none` when it is not open).
    public func shedding(for id: StreamID) -> StreamShedding {
        worker(for: id)?.shedding.current ?? .none
    }
}
