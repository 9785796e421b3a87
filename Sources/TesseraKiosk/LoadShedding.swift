import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TesseraCore
import TesseraMedia

/// Runs the `LoadShedder` policy once a second: reads the outputs' ticks and the process's CPU
/// time, decides the level, and sets each visible stream's `StreamShedding` by its largest tile.
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

    /// The process's user + system CPU time, in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }
}

extension Kiosk {
    /// The shedding loop (a task of the core service), until shutdown.
    func shedLoad() async {
        guard configuration.loadShedding else { shedding.disable(); return }
        let cores = Double(max(1, ProcessInfo.processInfo.activeProcessorCount))
        var last = (at: ContinuousClock.now, cpu: LoadShedding.processCPUSeconds(), ticks: 0, dropped: 0)
        var applied: [StreamID: StreamShedding] = [:]
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            let now = ContinuousClock.now, cpu = LoadShedding.processCPUSeconds()
            let outputs = metrics.outputFigures
            let ticks = outputs.reduce(0) { $0 + $1.framesPresented + $1.framesDropped }
            let dropped = outputs.reduce(0) { $0 + $1.framesDropped }
            let seconds = (now - last.at).seconds
            let sample = LoadShedder.Sample(ticks: ticks - last.ticks, dropped: dropped - last.dropped,
                                            cpu: seconds > 0 ? (cpu - last.cpu) / (seconds * cores) : 0, seconds: seconds)
            last = (now, cpu, ticks, dropped)
            let (level, changed) = shedding.step(sample)
            if changed {
                shedding.logger.notice("load shedding level \(level): \(LoadShedder.summary(level: level))",
                              metadata: ["dropped": "\(sample.dropped) of \(sample.ticks)", "cpu": "\(Int(sample.cpu * 100))%"])
            }
            // Every second, not only on a change: streams that opened since get the level too.
            var next: [StreamID: StreamShedding] = [:]
            for (id, size) in LoadShedder.largestTiles(in: wall.currentScene) {
                let s = LoadShedder.shedding(level: level, largestTile: size)
                next[id] = s
                if applied[id] != s || changed { media.setShedding(s, for: id) }
            }
            applied = next
        }
    }

    /// `, shedding level N (what)` for the progress line; empty at level 0.
    var sheddingStatus: String {
        let f = shedding.figures
        guard f.level > 0 else { return "" }
        let streams = media.stats.streams
        let skipped = streams.reduce(0) { $0 + $1.framesSkippedNonReference }
        let notShown = streams.reduce(0) { $0 + $1.framesNotShown }
        return "; shedding level \(f.level) (\(LoadShedder.summary(level: f.level)); \(skipped) frames skipped, \(notShown) not shown)"
    }
}

extension PrometheusText {
    /// The load-shedding families (`LoadShedding`).
    static func shedding(kiosk: Kiosk, streams: [StreamStats]) -> String {
        let f = kiosk.shedding.figures
        var out = "# HELP tessera_shed_level The load-shedding level (0: nothing shed; see docs/media.md).\n# TYPE tessera_shed_level gauge\n"
        out += "tessera_shed_level \(f.level)\n"
        out += "# HELP tessera_shed_level_changes_total Load-shedding level changes.\n# TYPE tessera_shed_level_changes_total counter\n"
        out += "tessera_shed_level_changes_total \(f.changes)\n"
        let skipped = streams.reduce(0) { $0 + $1.framesSkippedNonReference }
        let notShown = streams.reduce(0) { $0 + $1.framesNotShown }
        out += "# HELP tessera_frames_skipped_total Frames shed: not decoded (non_reference) or decoded but not shown (not_shown).\n"
        out += "# TYPE tessera_frames_skipped_total counter\n"
        out += "tessera_frames_skipped_total{reason=\"non_reference\"} \(skipped)\n"
        out += "tessera_frames_skipped_total{reason=\"not_shown\"} \(notShown)\n"
        out += "# HELP tessera_stream_frames_skipped_total Frames shed per stream, by reason.\n# TYPE tessera_stream_frames_skipped_total counter\n"
        for s in streams where s.framesSkippedNonReference > 0 || s.framesNotShown > 0 {
            out += "tessera_stream_frames_skipped_total{stream=\"\(escape(s.id))\",reason=\"non_reference\"} \(s.framesSkippedNonReference)\n"
            out += "tessera_stream_frames_skipped_total{stream=\"\(escape(s.id))\",reason=\"not_shown\"} \(s.framesNotShown)\n"
        }
        out += "# HELP tessera_stream_frames_superseded_total Frames replaced in the mailbox before the renderer took them.\n"
        out += "# TYPE tessera_stream_frames_superseded_total counter\n"
        for s in streams { out += "tessera_stream_frames_superseded_total{stream=\"\(escape(s.id))\"} \(s.framesSuperseded)\n" }
        return out
    }
}
