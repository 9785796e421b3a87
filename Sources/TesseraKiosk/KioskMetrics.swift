import CoreMetrics
import Foundation
import Prometheus
import Synchronization
import TesseraCore
import TesseraMedia

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

/// The kiosk's figures, shared by the render threads, the snapshot writer, health and /metrics.
///
/// /metrics is swift-prometheus's exposition of `registry`, this kiosk's own
/// `PrometheusCollectorRegistry` (not a process-wide `MetricsSystem` bootstrap, so several kiosks in
/// one process, as in the tests, never share or clash over series). Events are counted where they
/// happen (`update(output:)`, `count(_:)`); figures others own (Media's stream stats, the room, the
/// signaling link, the process) are read into gauges when /metrics is scraped (`exposition(…)`).
public final class KioskMetrics: Sendable {
    public let started = ContinuousClock.now
    /// Where every series of this kiosk lives; /metrics emits it.
    public let registry = PrometheusCollectorRegistry()
    private let outputs: Mutex<[String: (figures: OutputFigures, series: OutputSeries)]>
    private let counters = Mutex<[String: Int]>([:])
    private let latencies = Mutex<[String: OutputLatency]>([:])
    /// The series made at scrape time, kept between scrapes; the lock also serializes scrapes.
    private let scraped: Mutex<ScrapedSeries>

    public init(outputIDs: [String]) {
        let registry = registry
        outputs = Mutex(Dictionary(uniqueKeysWithValues: outputIDs.map { ($0, (OutputFigures(id: $0), OutputSeries(output: $0, in: registry))) }))
        scraped = Mutex(ScrapedSeries(registry: registry))
    }

    /// swift-metrics' factory over `registry`: code that records through swift-metrics' own API
    /// (`CoreMetrics.Counter(label:dimensions:factory:)`, `Timer`) lands in this kiosk's /metrics
    /// without a process-wide `MetricsSystem.bootstrap`.
    public var metricsFactory: any MetricsFactory { PrometheusMetricsFactory(registry: registry) }

    public var uptime: Double { (ContinuousClock.now - started).seconds }

    /// Changes output `id`'s figures (render thread, snapshot writer) and counts what changed.
    public func update(output id: String, _ body: (inout OutputFigures) -> Void) {
        let registry = registry
        let (before, after, series) = outputs.withLock { all in
            var entry = all[id] ?? (OutputFigures(id: id), OutputSeries(output: id, in: registry))
            let before = entry.figures
            body(&entry.figures)
            all[id] = entry
            return (before, entry.figures, entry.series)
        }
        series.record(from: before, to: after)
    }

    public var outputFigures: [OutputFigures] { outputs.withLock { $0.values.map(\.figures).sorted { $0.id < $1.id } } }

    /// Records pictures that reached `output`'s buffer for the first time (render thread).
    public func recordLatency(output id: String, _ pictures: [any VideoFrame], inBuffer: ContinuousClock.Instant, wallMicros: Int64) {
        guard !pictures.isEmpty else { return }
        latencies.withLock { $0[id, default: OutputLatency()].record(pictures, inBuffer: inBuffer, wallMicros: wallMicros) }
    }

    /// Each output's latency histograms since the start or the last `resetLatency()`.
    public var latency: [String: OutputLatency] { latencies.withLock { $0 } }

    /// Starts the latency histograms afresh (benchmarks, after their warm-up).
    public func resetLatency() { latencies.withLock { $0.removeAll() } }

    /// Named event counters: layout reloads, rejected reloads, keys, backend preset changes
    /// (`tessera_events_total{event=…}`).
    public func count(_ name: String, by n: Int = 1) {
        counters.withLock { $0[name, default: 0] += n }
        registry.makeCounter(descriptor: .named("tessera_events_total", help: Help.events), labels: [("event", name)]).increment(by: Int64(n))
    }
    public var counts: [String: Int] { counters.withLock { $0 } }

    /// The Prometheus text exposition (format 0.0.4) of this kiosk: reads the figures that are
    /// sampled rather than counted into their gauges, then emits the registry.
    func exposition(streams: [StreamFigures], participants: Int, signal: SignalFigures?,
                    shedding: LoadShedding.Figures = LoadShedding.Figures(), renderScratchBytes: Int = 0) -> String {
        let latency = latency
        let uptime = uptime
        return scraped.withLock { s in
            s.update(streams: streams, latency: latency, participants: participants, uptime: uptime, signal: signal, shedding: shedding)
            s.renderScratch.set(to: Double(renderScratchBytes))
            return registry.emitToString()
        }
    }
}

/// One stream's figures as /metrics shows them (from Media's `StreamStats`).
struct StreamFigures {
    var id: String
    var state: String
    var fps: Double
    var kbps: Double
    var reconnects: Int
    var framesDecoded: Int
    var ffmpegLogSuppressed: Int
    var framesSuperseded = 0
    var framesSkippedNonReference = 0
    var framesNotShown = 0
    var packetsSkippedBehind = 0
}

/// The signaling link as /metrics shows it, in seconds.
struct SignalFigures {
    var connected: Bool
    var disconnectedSeconds: Double
    var beatAgeSeconds: Double
}

/// The HELP lines, one place (a family's help must be the same at every registration).
private enum Help {
    static let events = "Kiosk events: keys, presets, layout reloads (applied and rejected)."
}

/// One output's series, made once; the render thread counts into them as it updates its figures.
private struct OutputSeries: Sendable {
    let frames, dropped, renderErrors, prepares: Prometheus.Counter
    let frameSeconds: DurationHistogram
    let frameSecondsMax, prepareSecondsMax: Prometheus.Gauge

    /// Upper bounds of the frame-time buckets: a 60 Hz refresh is 16.7 ms.
    static let frameBuckets: [Duration] = [1, 2, 4, 8, 12, 16, 20, 25, 33, 50, 100, 250, 1000].map { .milliseconds($0) }

    init(output: String, in registry: PrometheusCollectorRegistry) {
        let labels = [("output", output)]
        frames = registry.makeCounter(descriptor: .named("tessera_output_frames_total", help: "Frames presented per output."), labels: labels)
        dropped = registry.makeCounter(descriptor: .named("tessera_output_dropped_frames_total",
                                                          help: "Refresh ticks passed without a new picture (drawing took too long)."),
                                       labels: labels)
        renderErrors = registry.makeCounter(descriptor: .named("tessera_output_render_errors_total",
                                                               help: "Failed draws per output."), labels: labels)
        prepares = registry.makeCounter(descriptor: .named("tessera_render_prepares_total",
                                                           help: "Draws between refreshes that put newly arrived pictures in the next buffer."),
                                        labels: labels)
        frameSeconds = registry.makeDurationHistogram(descriptor: .named("tessera_render_frame_seconds",
                                                                         help: "Time to draw and present one frame."),
                                                      labels: labels, buckets: Self.frameBuckets)
        frameSecondsMax = registry.makeGauge(descriptor: .named("tessera_render_frame_seconds_max",
                                                                help: "Slowest frame so far per output."), labels: labels)
        prepareSecondsMax = registry.makeGauge(descriptor: .named("tessera_render_prepare_seconds_max",
                                                                  help: "Slowest round of draws between refreshes so far (all outputs of a render thread)."),
                                               labels: labels)
    }

    func record(from a: OutputFigures, to b: OutputFigures) {
        func add(_ c: Prometheus.Counter, _ n: Int) { if n > 0 { c.increment(by: Int64(n)) } }
        add(frames, b.framesPresented - a.framesPresented)
        add(dropped, b.framesDropped - a.framesDropped)
        add(renderErrors, b.renderErrors - a.renderErrors)
        add(prepares, b.prepares - a.prepares)
        let presented = b.framesPresented - a.framesPresented
        if presented > 0 {
            // One present per update: the sum grew by that frame's time.
            let each = (b.frameSecondsSum - a.frameSecondsSum) / Double(presented)
            for _ in 0..<presented { frameSeconds.record(.nanoseconds(Int64(max(0, each) * 1e9))) }
        }
        if b.frameSecondsMax != a.frameSecondsMax { frameSecondsMax.set(to: b.frameSecondsMax) }
        if b.prepareSecondsMax != a.prepareSecondsMax { prepareSecondsMax.set(to: b.prepareSecondsMax) }
    }
}

/// The series read at scrape time from figures other parts own. Per-stream and latency series
/// come and go with their streams and histograms: a series whose source is gone is unregistered,
/// so /metrics never shows a closed stream.
private struct ScrapedSeries {
    let registry: PrometheusCollectorRegistry
    let participants, uptime, mallocInUse, mallocFree, openFDs, threads, renderScratch: Prometheus.Gauge
    let streamsByState: [(state: String, gauge: Prometheus.Gauge)]
    var streams: [String: StreamSeries] = [:]
    var latency: [String: LatencySeries] = [:]
    var signal: (connected: Prometheus.Gauge, disconnected: Prometheus.Gauge, beatAge: Prometheus.Gauge)?
    let shedLevel: Prometheus.Gauge
    var shedChanges: (counter: Prometheus.Counter, last: Int)
    /// All streams' shed frames by reason, closed streams' included.
    let skippedNonReference, notShown, skippedBehind: Prometheus.Counter

    static let states = StreamState.allCases.map(\.rawValue)

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        shedLevel = registry.makeGauge(descriptor: .named("tessera_shed_level", help: "The load-shedding level (0: nothing shed; see docs/media.md)."))
        shedChanges = (registry.makeCounter(descriptor: .named("tessera_shed_level_changes_total", help: "Load-shedding level changes.")), 0)
        let skipped = MetricNameDescriptor.named("tessera_frames_skipped_total",
                                                 help: "Frames shed: not decoded (non_reference), decoded but not shown (not_shown), or not decoded while a stream that fell behind skipped ahead to a keyframe (behind).")
        skippedNonReference = registry.makeCounter(descriptor: skipped, labels: [("reason", "non_reference")])
        notShown = registry.makeCounter(descriptor: skipped, labels: [("reason", "not_shown")])
        skippedBehind = registry.makeCounter(descriptor: skipped, labels: [("reason", "behind")])
        participants = registry.makeGauge(descriptor: .named("tessera_participants", help: "Participants in the room."))
        uptime = registry.makeGauge(descriptor: .named("tessera_uptime_seconds", help: "Seconds since the kiosk started."))
        mallocInUse = registry.makeGauge(descriptor: .named("tessera_process_malloc_inuse_bytes",
                                                            help: "Bytes malloc has handed out and not got back (mallinfo2 uordblks + hblkhd)."))
        mallocFree = registry.makeGauge(descriptor: .named("tessera_process_malloc_free_bytes",
            help: "Bytes malloc keeps free for reuse (mallinfo2 fordblks); the kiosk hands their whole pages back every minute (malloc_trim)."))
        openFDs = registry.makeGauge(descriptor: .named("tessera_process_open_fds", help: "Open file descriptors."))
        threads = registry.makeGauge(descriptor: .named("tessera_process_threads", help: "Threads of the process."))
        renderScratch = registry.makeGauge(descriptor: .named("tessera_render_scratch_bytes",
            help: "Bytes the CPU renderer keeps for scaling tiles (one scratch per worker, at most the largest tile shown)."))
        streamsByState = Self.states.map { ($0, registry.makeGauge(descriptor: .named("tessera_streams",
                                                                                      help: "Open streams by state."), labels: [("state", $0)])) }
    }

    mutating func update(streams now: [StreamFigures], latency: [String: OutputLatency], participants count: Int, uptime seconds: Double,
                         signal link: SignalFigures?, shedding: LoadShedding.Figures) {
        shedLevel.set(to: Double(shedding.level))
        if shedding.changes > shedChanges.last {
            shedChanges.counter.increment(by: Int64(shedding.changes - shedChanges.last))
            shedChanges.last = shedding.changes
        }
        participants.set(to: Double(count))
        uptime.set(to: seconds)
        let process = ProcessFigures.now()
        mallocInUse.set(to: Double(process.mallocInUse))
        mallocFree.set(to: Double(process.mallocFree))
        openFDs.set(to: Double(process.openFDs))
        threads.set(to: Double(process.threads))
        for (state, gauge) in streamsByState { gauge.set(to: Double(now.filter { $0.state == state }.count)) }

        let ids = Set(now.map(\.id))
        for (id, series) in streams where !ids.contains(id) { series.unregister(from: registry); streams[id] = nil }
        for s in now {
            if streams[s.id] == nil { streams[s.id] = StreamSeries(stream: s.id, in: registry) }
            let grew = streams[s.id]!.update(s, in: registry)
            if let n = grew[.skippedNonReference] { skippedNonReference.increment(by: Int64(n)) }
            if let n = grew[.notShown] { notShown.increment(by: Int64(n)) }
            if let n = grew[.skippedBehind] { skippedBehind.increment(by: Int64(n)) }
        }

        var spans: Set<String> = []
        for (output, l) in latency {
            let all = [("arrival_to_decoded", l.arrivalToDecoded), ("decoded_to_buffer", l.decodedToBuffer),
                       ("arrival_to_buffer", l.arrivalToBuffer), ("capture_to_buffer", l.captureToBuffer)]
            for (span, h) in all {
                guard let summary = OutputLatency.summary(h) else { continue }
                let key = output + "\u{0}" + span
                spans.insert(key)
                if self.latency[key] == nil { self.latency[key] = LatencySeries(output: output, span: span, in: registry) }
                self.latency[key]!.set(summary)
            }
        }
        for (key, series) in self.latency where !spans.contains(key) { series.unregister(from: registry); self.latency[key] = nil }

        if let link {
            if signal == nil {
                signal = (registry.makeGauge(descriptor: .named("tessera_signal_connected",
                                                                help: "1 while the wall holds a welcomed connection to the signaling backend.")),
                          registry.makeGauge(descriptor: .named("tessera_signal_disconnected_seconds",
                                                                help: "Seconds since the link to the backend went down (0 while connected).")),
                          registry.makeGauge(descriptor: .named("tessera_signal_client_beat_age_seconds",
                                                                help: "Seconds since the signaling client last ran its liveness beat (about 1 when healthy).")))
            }
            signal!.connected.set(to: link.connected ? 1 : 0)
            signal!.disconnected.set(to: link.disconnectedSeconds)
            signal!.beatAge.set(to: link.beatAgeSeconds)
        }
    }

}

/// One stream's series. Media's counts restart when a stream is reopened, so each counter is
/// advanced by the growth since the last scrape, and made anew when its source went backwards.
/// The shedding counters appear once the stream has shed a frame.
private struct StreamSeries {
    let stream: String
    let up: [(state: String, gauge: Prometheus.Gauge)]
    let fps, kbps: Prometheus.Gauge
    var counts: [Count: (counter: Prometheus.Counter?, last: Int)] = [:]

    init(stream: String, in registry: PrometheusCollectorRegistry) {
        self.stream = stream
        let labels = [("stream", stream)]
        up = ScrapedSeries.states.map { state in
            (state, registry.makeGauge(descriptor: .named("tessera_stream_up",
                                                          help: "1 for the stream's current state (connecting, playing, stalled, offline)."),
                                       labels: [("stream", stream), ("state", state)]))
        }
        fps = registry.makeGauge(descriptor: .named("tessera_stream_fps", help: "Frames decoded per second, per stream."), labels: labels)
        kbps = registry.makeGauge(descriptor: .named("tessera_stream_kbps", help: "Input bit rate per stream."), labels: labels)
    }

    enum Count: CaseIterable {
        case reconnects, decoded, suppressed, superseded, skippedNonReference, notShown, skippedBehind
        /// Shown only once the stream has shed something (as before swift-prometheus).
        var whenShed: Bool { self == .skippedNonReference || self == .notShown || self == .skippedBehind }
    }

    static func counter(_ c: Count, _ stream: String, _ registry: PrometheusCollectorRegistry) -> Prometheus.Counter {
        let labels = [("stream", stream)]
        let skipped = MetricNameDescriptor.named("tessera_stream_frames_skipped_total", help: "Frames shed per stream, by reason.")
        return switch c {
        case .reconnects: registry.makeCounter(descriptor: .named("tessera_stream_reconnects_total", help: "Reconnects per stream."), labels: labels)
        case .decoded: registry.makeCounter(descriptor: .named("tessera_stream_frames_decoded_total",
                                                               help: "Frames decoded per stream."), labels: labels)
        case .suppressed: registry.makeCounter(descriptor: .named("tessera_ffmpeg_log_suppressed_total",
                                                                  help: "FFmpeg messages about a stream dropped by the per-stream log rate limit."),
                                               labels: labels)
        case .superseded: registry.makeCounter(descriptor: .named("tessera_stream_frames_superseded_total",
                                                                  help: "Frames replaced in the mailbox before the renderer took them."),
                                               labels: labels)
        case .skippedNonReference: registry.makeCounter(descriptor: skipped, labels: labels + [("reason", "non_reference")])
        case .notShown: registry.makeCounter(descriptor: skipped, labels: labels + [("reason", "not_shown")])
        case .skippedBehind: registry.makeCounter(descriptor: skipped, labels: labels + [("reason", "behind")])
        }
    }

    static func value(_ c: Count, of s: StreamFigures) -> Int {
        switch c {
        case .reconnects: s.reconnects
        case .decoded: s.framesDecoded
        case .suppressed: s.ffmpegLogSuppressed
        case .superseded: s.framesSuperseded
        case .skippedNonReference: s.framesSkippedNonReference
        case .notShown: s.framesNotShown
        case .skippedBehind: s.packetsSkippedBehind
        }
    }

    /// Sets the gauges and advances the counters; returns how much each count grew (for the totals
    /// over all streams).
    mutating func update(_ s: StreamFigures, in registry: PrometheusCollectorRegistry) -> [Count: Int] {
        for (state, gauge) in up { gauge.set(to: s.state == state ? 1 : 0) }
        fps.set(to: s.fps)
        kbps.set(to: s.kbps)
        let shed = s.framesSkippedNonReference > 0 || s.framesNotShown > 0 || s.packetsSkippedBehind > 0
        var grew: [Count: Int] = [:]
        for kind in Count.allCases {
            let value = Self.value(kind, of: s)
            var c = counts[kind] ?? (nil, 0)
            if value < c.last {
                // The stream was reopened: its count starts over, and so does its series.
                if let old = c.counter { registry.unregisterCounter(old) }
                c = (nil, 0)
            }
            if c.counter == nil, !kind.whenShed || shed { c.counter = Self.counter(kind, stream, registry) }
            if value > c.last {
                c.counter?.increment(by: Int64(value - c.last))
                grew[kind] = value - c.last
            }
            // Before the first shed frame the series is absent; it then starts from the whole count.
            if c.counter != nil || !kind.whenShed { c.last = value }
            counts[kind] = c
        }
        return grew
    }

    func unregister(from registry: PrometheusCollectorRegistry) {
        for (_, g) in up { registry.unregisterGauge(g) }
        registry.unregisterGauge(fps); registry.unregisterGauge(kbps)
        for c in counts.values { if let counter = c.counter { registry.unregisterCounter(counter) } }
    }
}

/// One output's latency of one span: p50, p99 and the maximum (quantile 1), the sum and the count,
/// in seconds, as gauges: the HdrHistogram behind them starts afresh at `resetLatency()`.
private struct LatencySeries {
    let quantiles: [(q: String, gauge: Prometheus.Gauge)]
    let sum, count: Prometheus.Gauge

    static let help = "Stream pictures' way to the output buffer since the start: arrival_to_decoded "
        + "(packet read to picture decoded), decoded_to_buffer (wait for the refresh and the draw), arrival_to_buffer (both), "
        + "capture_to_buffer (from the publisher's stamp, stamped streams only). Quantile 1 is the maximum."

    init(output: String, span: String, in registry: PrometheusCollectorRegistry) {
        let labels = [("output", output), ("span", span)]
        quantiles = ["0.5", "0.99", "1"].map { q in
            (q, registry.makeGauge(descriptor: .named("tessera_picture_latency_seconds", help: Self.help), labels: labels + [("quantile", q)]))
        }
        sum = registry.makeGauge(descriptor: .named("tessera_picture_latency_seconds_sum",
                                                    help: "Sum of the pictures' latencies, per span."), labels: labels)
        count = registry.makeGauge(descriptor: .named("tessera_picture_latency_seconds_count", help: "Pictures measured, per span."), labels: labels)
    }

    func set(_ s: LatencySummary) {
        for (q, gauge) in quantiles {
            gauge.set(to: (q == "0.5" ? s.p50 : q == "0.99" ? s.p99 : s.max) / 1000)
        }
        sum.set(to: s.mean * Double(s.count) / 1000)
        count.set(to: Double(s.count))
    }

    func unregister(from registry: PrometheusCollectorRegistry) {
        for (_, g) in quantiles { registry.unregisterGauge(g) }
        registry.unregisterGauge(sum); registry.unregisterGauge(count)
    }
}

extension MetricNameDescriptor {
    /// A family by its whole name (`tessera_…`) and its HELP line.
    static func named(_ name: String, help: String) -> MetricNameDescriptor { .init(metricName: name, unitName: "", helpText: help) }
}


