import Foundation
import Synchronization
import TesseraCore

/// What each output's render thread did: written by that thread, read by health and metrics.
public struct OutputFigures: Sendable, Hashable {
    public var id: String
    public var framesPresented = 0
    /// Refresh ticks the output passed without a new picture because drawing took too long.
    public var framesDropped = 0
    public var renderErrors = 0
    /// Tiles drawn, by presents and by prepares between refreshes.
    public var tilesDrawn = 0
    /// Draws between refreshes that drew something (into `Output.nextBuffer`, not committed), and the slowest round of them, in seconds.
    public var prepares = 0
    public var prepareSecondsMax = 0.0
    /// Sum and count of draw times, and the slowest, in seconds.
    public var frameSecondsSum = 0.0
    public var frameSecondsMax = 0.0
    public var lastFrameSeconds = 0.0
    /// Seconds since the kiosk started at the last present (nil before the first).
    public var lastPresentAt: Double?
    public var snapshotsWritten = 0
    public init(id: String) { self.id = id }
    public var meanFrameMs: Double { framesPresented > 0 ? frameSecondsSum / Double(framesPresented) * 1000 : 0 }
}

/// The kiosk's counters, shared by the render threads, the snapshot writer and the health server.
public final class KioskMetrics: Sendable {
    public let started = ContinuousClock.now
    private let outputs: Mutex<[String: OutputFigures]>
    private let counters = Mutex<[String: Int]>([:])
    private let latencies = Mutex<[String: OutputLatency]>([:])

    public init(outputIDs: [String]) {
        outputs = Mutex(Dictionary(uniqueKeysWithValues: outputIDs.map { ($0, OutputFigures(id: $0)) }))
    }

    public var uptime: Double { (ContinuousClock.now - started).seconds }

    public func update(output id: String, _ body: (inout OutputFigures) -> Void) {
        outputs.withLock { all in
            var f = all[id] ?? OutputFigures(id: id)
            body(&f)
            all[id] = f
        }
    }

    public var outputFigures: [OutputFigures] { outputs.withLock { $0.values.sorted { $0.id < $1.id } } }

    /// Records pictures that reached `output`'s buffer for the first time (render thread).
    public func recordLatency(output id: String, _ pictures: [any VideoFrame], inBuffer: ContinuousClock.Instant, wallMicros: Int64) {
        guard !pictures.isEmpty else { return }
        latencies.withLock { $0[id, default: OutputLatency()].record(pictures, inBuffer: inBuffer, wallMicros: wallMicros) }
    }

    /// Each output's latency histograms since the start or the last `resetLatency()`.
    public var latency: [String: OutputLatency] { latencies.withLock { $0 } }

    /// Starts the latency histograms afresh (benchmarks, after their warm-up).
    public func resetLatency() { latencies.withLock { $0.removeAll() } }

    /// Named event counters: layout reloads, rejected reloads, keys, backend preset changes.
    public func count(_ name: String, by n: Int = 1) { counters.withLock { $0[name, default: 0] += n } }
    public var counts: [String: Int] { counters.withLock { $0 } }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
