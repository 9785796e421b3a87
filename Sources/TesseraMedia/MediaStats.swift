import Foundation
import TesseraCore

/// What one stream is doing, for tiles, `tessera probe`, health reports and the signaling
/// `status` message.
public struct StreamStats: Hashable, Sendable, Codable {
    public var id: String
    /// The URL without credentials.
    public var url: String
    public var state: StreamState
    public var priority: String
    public var codec: String?
    public var width: Int?
    public var height: Int?
    public var hardware: Bool
    /// Decoded frames per second over the last second or so.
    public var fps: Double
    /// Received bitrate over the last second or so (video packets).
    public var kbps: Double
    /// Mean time of one decode (send packet + receive picture), milliseconds.
    public var decodeMs: Double
    public var framesDecoded: Int
    /// Frames replaced in the mailbox before anyone took them (the renderer was slower).
    public var framesSuperseded: Int
    /// Packets thrown away while waiting for a keyframe (after an open or a warm → visible switch).
    public var packetsSkipped: Int
    /// Packets the demuxer marked corrupt (MPEG-TS continuity errors: lost or foreign data).
    public var packetsCorrupt: Int
    /// Pictures the decoder marked corrupt (they are still shown).
    public var framesCorrupt: Int
    /// Capture stamps that were no plausible reading of the wall clock (far in the future, or
    /// hours old): not measured as latency (`WallClock.age(ofStamp:now:)`).
    public var stampsIgnored: Int = 0
    /// FFmpeg messages about this stream dropped by the per-stream rate limit (`FFmpegLog`).
    public var ffmpegLogSuppressed: Int = 0
    /// Load shedding (`StreamShedding`): frames not decoded because nothing refers to them, and
    /// frames decoded but never shown (`framesDecoded` counts them too).
    public var framesSkippedNonReference: Int = 0
    public var framesNotShown: Int = 0
    /// Catching up (`MediaConfiguration.catchUpAfter`): times the stream fell behind its own clock
    /// and skipped ahead to a keyframe on time, and the packets it skipped doing so.
    public var catchUps: Int = 0
    public var packetsSkippedBehind: Int = 0
    /// Everything that went wrong: failed opens, decode errors, timeouts, read errors.
    public var errors: Int
    public var reconnects: Int
    /// Milliseconds since the newest frame was decoded (nil before the first).
    public var lastFrameAgeMs: Double?
    /// From the open call to the first picture of the current connection (nil before it).
    public var timeToFirstFrameMs: Double?
    public var lastError: String?

    public init(id: String, url: String) {
        self.id = id; self.url = url; state = .connecting; priority = StreamPriority.visible.rawValue
        hardware = false; fps = 0; kbps = 0; decodeMs = 0; framesDecoded = 0; framesSuperseded = 0
        packetsSkipped = 0; packetsCorrupt = 0; framesCorrupt = 0; errors = 0; reconnects = 0
    }
}

/// All streams, and totals over them.
public struct MediaStats: Hashable, Sendable, Codable {
    public var streams: [StreamStats]
    public var count: [String: Int]
    public var fps: Double
    public var kbps: Double
    public var framesDecoded: Int
    public var framesSuperseded: Int
    public var errors: Int
    public var reconnects: Int
    /// Among playing streams, the oldest newest frame.
    public var maxLastFrameAgeMs: Double?

    public init(streams: [StreamStats]) {
        self.streams = streams
        count = Dictionary(grouping: streams, by: \.state.rawValue).mapValues(\.count)
        fps = streams.reduce(0) { $0 + $1.fps }
        kbps = streams.reduce(0) { $0 + $1.kbps }
        framesDecoded = streams.reduce(0) { $0 + $1.framesDecoded }
        framesSuperseded = streams.reduce(0) { $0 + $1.framesSuperseded }
        errors = streams.reduce(0) { $0 + $1.errors }
        reconnects = streams.reduce(0) { $0 + $1.reconnects }
        maxLastFrameAgeMs = streams.filter { $0.state == .playing }.compactMap(\.lastFrameAgeMs).max()
    }

    public func streams(in state: StreamState) -> Int { count[state.rawValue] ?? 0 }
}

/// A histogram of durations for percentiles without keeping samples: 20 µs buckets up to 5 ms,
/// then 32 buckets per doubling (about 2 % wide) up to about 160 s, and one bucket beyond.
///
/// Compact on purpose: every stream keeps three of these, so the buckets are 32-bit and are
/// allocated at the first sample (about 3 KiB each; the first version's 5001 Ints were 40 KiB,
/// 120 KiB per stream — 6 % of the 2 MiB a stream may use).
public struct LatencyHistogram: Sendable, Hashable {
    /// Width of the buckets below `linearBuckets` × this (5 ms).
    public static let bucketMicroseconds = 20.0
    static let linearBuckets = 250
    static let bucketsPerOctave = 32
    static let octaves = 15
    static let bucketCount = linearBuckets + bucketsPerOctave * octaves + 1
    private var buckets: [UInt32] = []
    public private(set) var count = 0

    public init() {}

    static func index(microseconds us: Double) -> Int {
        guard us.isFinite else { return us > 0 ? bucketCount - 1 : 0 }
        let linearEnd = Double(linearBuckets) * bucketMicroseconds
        guard us >= linearEnd else { return max(0, Int(us / bucketMicroseconds)) }
        let i = linearBuckets + Int(log2(us / linearEnd) * Double(bucketsPerOctave))
        return min(bucketCount - 1, i)
    }

    /// The upper edge of bucket `i`, in microseconds.
    static func upperEdge(_ i: Int) -> Double {
        guard i >= linearBuckets else { return Double(i + 1) * bucketMicroseconds }
        let linearEnd = Double(linearBuckets) * bucketMicroseconds
        return linearEnd * pow(2, Double(i - linearBuckets + 1) / Double(bucketsPerOctave))
    }

    public mutating func record(microseconds us: Double) {
        if buckets.isEmpty { buckets = [UInt32](repeating: 0, count: Self.bucketCount) }
        buckets[Self.index(microseconds: us)] &+= 1
        count += 1
    }

    public mutating func merge(_ other: LatencyHistogram) {
        guard !other.buckets.isEmpty else { return }
        if buckets.isEmpty { buckets = other.buckets } else {
            for i in buckets.indices { buckets[i] &+= other.buckets[i] }
        }
        count += other.count
    }

    /// The `p`-th percentile (0…1) in milliseconds (bucket upper edge), nil when empty.
    public func percentile(_ p: Double) -> Double? {
        guard count > 0 else { return nil }
        let target = max(1, Int((Double(count) * p).rounded(.up)))
        var seen = 0
        for (i, n) in buckets.enumerated() {
            seen += Int(n)
            if seen >= target { return Self.upperEdge(i) / 1000 }
        }
        return nil
    }
}
