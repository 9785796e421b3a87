import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TesseraCore
import TesseraMedia

/// Runs the `LoadShedder` policy twice a second: reads the outputs' ticks and the streams that fell
/// behind their own clock, decides the level, and sets each visible stream's `StreamShedding` by its largest tile.
/// What it did is on /metrics (`tessera_shed_level`, `tessera_frames_skipped_total`) and in the
/// progress line.
public final class LoadShedding: Sendable {
    public struct Figures: Sendable, Hashable {
        public var level = 0
        /// Level changes since the start.
        public var changes = 0
        public var enabled = true
    }
    private let state = Mutex((shedder: LoadShedder(), figures: Figures()))
    let logger = Logger(label: "tessera.kiosk.shedding")

    public init() {}

    /// How often the policy looks: a level that does not fit costs at most this long of dropped ticks.
    static let period: Duration = .milliseconds(500)

    public var figures: Figures { state.withLock { $0.figures } }

    /// One step of the policy (the loop's, and tests').
    @discardableResult
    func step(_ sample: LoadShedder.Sample) -> (level: Int, changed: Bool) {
        state.withLock { s in
            let before = s.shedder.level
            let level = s.shedder.next(sample)
            s.figures.level = level
            if level != before { s.figures.changes += 1 }
            return (level, level != before)
        }
    }

    func disable() { state.withLock { $0.figures.enabled = false } }
}

extension Kiosk {
    /// The shedding loop (`LoadSheddingService`'s), until shutdown.
    func shedLoad() async {
        guard configuration.loadShedding else { shedding.disable(); return }
        var last = (ticks: 0, dropped: 0, at: ContinuousClock.now)
        var catchUps: [String: Int] = [:]
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: LoadShedding.period) }
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            let outputs = metrics.outputFigures
            let ticks = outputs.reduce(0) { $0 + $1.framesPresented + $1.framesDropped }
            let dropped = outputs.reduce(0) { $0 + $1.framesDropped }
            // Catch-ups since the last look, per stream (a reopened stream counts from zero again).
            let streams = media.stats.streams
            var behind = 0
            for s in streams { behind += max(0, s.catchUps - (catchUps[s.id] ?? 0)) }
            catchUps = Dictionary(streams.map { ($0.id, $0.catchUps) }, uniquingKeysWith: { a, _ in a })
            let now = ContinuousClock.now
            let sample = LoadShedder.Sample(ticks: ticks - last.ticks, dropped: dropped - last.dropped, behind: behind,
                                            streams: streams.count { $0.priority == StreamPriority.visible.rawValue },
                                            seconds: (now - last.at).seconds)
            last = (ticks, dropped, now)
            let (level, changed) = shedding.step(sample)
            if changed {
                shedding.logger.notice("load shedding level \(level): \(LoadShedder.summary(level: level))",
                              metadata: ["dropped": "\(sample.dropped) of \(sample.ticks)", "behind": "\(sample.behind) of \(sample.streams)"])
            }
            // Every time, not only on a change: streams that opened (or reopened) since get the level
            // too. A store under a lock per visible stream, twice a second.
            for (id, size) in LoadShedder.largestTiles(in: wall.currentScene) {
                media.setShedding(LoadShedder.shedding(level: level, largestTile: size), for: id)
            }
        }
    }

    /// `, shedding level N (what)` for the progress line; empty at level 0.
    var sheddingStatus: String {
        let f = shedding.figures
        guard f.level > 0 else { return "" }
        let streams = media.stats.streams
        let skipped = streams.reduce(0) { $0 + $1.framesSkippedNonReference }
        let notShown = streams.reduce(0) { $0 + $1.framesNotShown }
        let behind = streams.reduce(0) { $0 + $1.packetsSkippedBehind }
        return "; shedding level \(f.level) (\(LoadShedder.summary(level: f.level)); \(skipped) frames skipped, \(notShown) not shown, \(behind) skipped to catch up)"
    }
}

/// Runs `Kiosk.shedLoad` in the kiosk's service group; with shedding off it waits for the shutdown
/// (a service that returned early would end the group).
struct LoadSheddingService: Service {
    let kiosk: Kiosk

    func run() async {
        await kiosk.shedLoad()
        try? await gracefulShutdown()
    }
}
