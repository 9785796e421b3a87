import Histogram
import TesseraCore

/// How long stream pictures took to reach one output's buffer, in microseconds (HdrHistogram,
/// three significant digits, up to 10 s). Recorded by the output's render thread for each picture
/// the first time a draw puts it in the buffer (`FirstShow`).
public struct OutputLatency: Sendable {
    /// Packet arrival → picture decoded and handed over (decode and hand-off, no waiting).
    public var arrivalToDecoded = OutputLatency.histogram()
    /// Picture decoded → in the output buffer: the wait for the next refresh, then the draw.
    public var decodedToBuffer = OutputLatency.histogram()
    /// Packet arrival → in the output buffer: the wall's whole share of the latency.
    public var arrivalToBuffer = OutputLatency.histogram()
    /// The publisher's capture stamp → in the output buffer (stamped test streams only): adds the
    /// publisher's encode and the network; across two clocks of one machine in benchmarks.
    public var captureToBuffer = OutputLatency.histogram()
    public init() {}

    static let highest: UInt64 = 10_000_000
    static func histogram() -> Histogram<UInt32> {
        Histogram<UInt32>(lowestDiscernibleValue: 1, highestTrackableValue: highest, numberOfSignificantValueDigits: .three)
    }

    /// Records `pictures`, which reached the buffer at `inBuffer` (monotonic) / `wallMicros` (CLOCK_REALTIME).
    public mutating func record(_ pictures: [any VideoFrame], inBuffer: ContinuousClock.Instant, wallMicros: Int64) {
        func add(_ h: inout Histogram<UInt32>, _ us: Int64) { _ = h.record(UInt64(min(max(us, 0), Int64(Self.highest)))) }
        for p in pictures {
            add(&decodedToBuffer, (inBuffer - p.decodedAt).wholeMicroseconds)
            if let arrived = p.arrivedAt {
                add(&arrivalToDecoded, (p.decodedAt - arrived).wholeMicroseconds)
                add(&arrivalToBuffer, (inBuffer - arrived).wholeMicroseconds)
            }
            if let captured = p.captureMicros, let age = WallClock.age(ofStamp: captured, now: wallMicros) { add(&captureToBuffer, age) }
        }
    }

    /// p50, p99 and max of one histogram, in milliseconds; nil when it holds nothing.
    public static func summary(_ h: Histogram<UInt32>) -> LatencySummary? {
        guard h.totalCount > 0 else { return nil }
        return LatencySummary(count: Int(h.totalCount), p50: Double(h.valueAtPercentile(50)) / 1000,
                              p99: Double(h.valueAtPercentile(99)) / 1000, max: Double(h.max) / 1000, mean: h.mean / 1000)
    }
}

/// Percentiles of one latency histogram, in milliseconds.
public struct LatencySummary: Sendable, Hashable {
    public var count: Int
    public var p50: Double
    public var p99: Double
    public var max: Double
    public var mean: Double
}

extension Duration {
    var wholeMicroseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
