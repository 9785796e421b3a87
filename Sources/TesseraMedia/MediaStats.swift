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

/// A histogram of durations in 20 µs buckets up to 100 ms (one bucket beyond), for percentiles
/// without keeping samples.
public struct LatencyHistogram: Sendable, Hashable {
    public static let bucketMicroseconds = 20.0
    private var buckets = [Int](repeating: 0, count: 5001)
    public private(set) var count = 0

    public init() {}

    public mutating func record(microseconds us: Double) {
        let i = min(buckets.count - 1, max(0, Int(us / Self.bucketMicroseconds)))
        buckets[i] += 1; count += 1
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in buckets.indices { buckets[i] += other.buckets[i] }
        count += other.count
    }

    /// The `p`-th percentile (0…1) in milliseconds (bucket upper edge), nil when empty.
    public func percentile(_ p: Double) -> Double? {
        guard count > 0 else { return nil }
        let target = max(1, Int((Double(count) * p).rounded(.up)))
        var seen = 0
        for (i, n) in buckets.enumerated() {
            seen += n
            if seen >= target { return Double(i + 1) * Self.bucketMicroseconds / 1000 }
        }
        return nil
    }
}
