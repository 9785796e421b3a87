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
    public var tilesDrawn = 0
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

    /// Named event counters: layout reloads, rejected reloads, keys, backend preset changes.
    public func count(_ name: String, by n: Int = 1) { counters.withLock { $0[name, default: 0] += n } }
    public var counts: [String: Int] { counters.withLock { $0 } }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
