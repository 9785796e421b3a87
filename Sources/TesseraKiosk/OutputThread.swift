import Foundation
import Logging
import Synchronization
import TesseraCore
import TesseraOutput

/// A render thread: for each of its outputs, waits for the output's next refresh (a clock tick
/// headless, the page flip on DRM), takes the buffer the output hands out, draws the wall's current
/// scene into it with the newest frame of each stream, and commits it. Headless outputs get a
/// thread each; a DRM device's outputs share one (one GPU context). It reads the scene and the
/// frames with a pointer swap each; it never waits for Signal, Media or the snapshot writer.
final class OutputThread: @unchecked Sendable {
    // Unchecked: the output, renderer and backend are made and used only on the thread this class
    // starts (EGL contexts are bound to one thread).
    /// What the render thread draws with, made on that thread: one backend and renderer, and
    /// the backend's outputs (one headless output, or every display of a DRM device).
    ///
    /// A class, so that every copy is this one: `close` stops the backend and lets the renderer go
    /// while the backend lives on (a GLES renderer's EGL display lives on the DRM backend's GBM
    /// device). As a struct, the copy `WorkerThread` keeps for the body's duration was destroyed
    /// last, backend first, and the GLES teardown crashed at every SIGTERM on DRM (make e2e-kms).
    final class Lit {
        let backend: any OutputBackend
        private var held: (any Renderer)?
        /// The renderer; unusable after `close`.
        var renderer: any Renderer { held! }
        init(backend: any OutputBackend, renderer: any Renderer) { self.backend = backend; held = renderer }
        func close() {
            backend.stop()
            held = nil
        }
    }
    /// For logs and the thread's name.
    let id: String
    private let setup: @Sendable () throws -> Lit
    private let wall: Wall
    private let sources: any FrameSourceLookup
    private let metrics: KioskMetrics
    private let snapshots: SnapshotWriter?
    private let snapshotInterval: Duration
    private let refreshIntervals: [String: Duration]
    private let logger: Logger
    private let worker: WorkerThread

    init(id: String, setup: @escaping @Sendable () throws -> Lit, wall: Wall, sources: any FrameSourceLookup, metrics: KioskMetrics,
         snapshots: SnapshotWriter?, snapshotInterval: Duration, refresh: [String: Double], logger: Logger) {
        self.id = id; self.setup = setup; self.wall = wall; self.sources = sources; self.metrics = metrics
        self.snapshots = snapshots; self.snapshotInterval = snapshotInterval
        // A mode's refresh comes from the display's EDID: a zero or absurd rate must not trap; 1 to 1,000 Hz.
        self.refreshIntervals = refresh.mapValues { $0.isFinite && $0 >= 1 ? .seconds(clamping: 1 / min($0, 1000)) : .seconds(1) }
        var logger = logger
        logger[metadataKey: "output"] = .string(id)
        self.logger = logger
        worker = WorkerThread(name: "render \(id)", stackSize: 4 << 20)
    }

    /// Starts the thread and waits until it has lit its output; throws what setting up threw.
    func start() throws {
        try worker.start(setup: setup) { [self] lit in
            run(lit)
            // On this thread and before it counts as finished, so the process cannot exit in the middle of it.
            lit.close()
        }
    }

    func stop() { worker.requestStop() }

    @discardableResult
    func join(timeout: Duration = .seconds(10)) -> Bool { worker.join(timeout: timeout) }

    private func run(_ lit: Lit) {
        var lastTick: [String: ContinuousClock.Instant] = [:]
        var lastSnapshot: [String: ContinuousClock.Instant] = [:]
        var failures = 0
        var firstShows: [String: FirstShow] = [:]
        var pace = Pace()
        while !worker.isStopRequested {
            do {
                // DRM: hot-plug re-enumeration between frames.
                if try lit.backend.handleEvents() {
                    logger.notice("outputs changed", metadata: ["lit": "\(lit.backend.outputs.map(\.id).joined(separator: ","))"])
                }
                let outputs = lit.backend.outputs
                if outputs.isEmpty { Thread.sleep(forTimeInterval: 0.1); continue }
                if lit.renderer.drawsIncrementally {
                    try prepareUntilDue(outputs, renderer: lit.renderer, firstShows: &firstShows, pace: &pace)
                }
                for output in outputs {
                    try output.waitForFrame()
                    let tick = ContinuousClock.now
                    if let last = lastTick[output.id], let interval = refreshIntervals[output.id] {
                        let ticks = Int(((tick - last) / interval).rounded())
                        if ticks > 1 { metrics.update(output: output.id) { $0.framesDropped += ticks - 1 } }
                    }
                    lastTick[output.id] = tick
                    guard let scene = wall.outputScene(output.id) else { continue }
                    try output.check(scene)
                    // Acquire → draw → commit. No buffer: the VT is switched away from the DRM output;
                    // the refresh still counts (health and the watchdog see a live loop), with nothing drawn.
                    var stats = RenderStats()
                    if let buffer = try output.nextBuffer() {
                        stats = try lit.renderer.draw(scene, sources: sources, into: buffer)
                        try output.commit()
                    }
                    let inBuffer = ContinuousClock.now
                    record(stats, output: output.id, at: inBuffer, firstShows: &firstShows)
                    pace.drew(tiles: stats.tilesDrawn, from: tick, to: inBuffer)
                    let took = (inBuffer - tick).seconds
                    let at = (ContinuousClock.now - metrics.started).seconds
                    metrics.update(output: output.id) {
                        $0.framesPresented += 1; $0.tilesDrawn += stats.tilesDrawn
                        $0.frameSecondsSum += took; $0.frameSecondsMax = max($0.frameSecondsMax, took)
                        $0.lastFrameSeconds = took; $0.lastPresentAt = at
                    }
                    if snapshots != nil, lastSnapshot[output.id].map({ ContinuousClock.now - $0 >= snapshotInterval }) ?? true {
                        lastSnapshot[output.id] = .now
                        captureSnapshot(output, renderer: lit.renderer)
                    }
                }
                failures = 0
            } catch {
                failures += 1
                for o in lit.backend.outputs { metrics.update(output: o.id) { $0.renderErrors += 1 } }
                // Logged once per run of failures; the loop keeps trying at a calm pace.
                if failures == 1 { logger.error("drawing failed; retrying", metadata: ["error": "\(error)"]) }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        if snapshots != nil { for o in lit.backend.outputs { captureSnapshot(o, renderer: lit.renderer) } }
    }

    /// How long recent draws took, to stop preparing in time for the refresh.
    /// When to stop bringing the next buffer up to date, so that the last round ends just before
    /// the present is due and the present draws only what arrived in the last moments. A draw
    /// costs a fixed part (planning every tile) and a part per changed tile, and tiles change at a
    /// rate; all are learnt from the draws themselves, rounds and presents alike.
    struct Pace {
        /// Moving averages over recent draws of n (changed tiles), d (seconds), n² and n·d, for a
        /// least-squares line d = overhead + perTile · n; and of the tiles and seconds between
        /// draws, for the rate. Every draw teaches all of them, so none can stick at a value one
        /// unlucky draw gave it.
        private var n = 0.0, d = 0.0, nn = 0.0, nd = 0.0
        private var tilesBetween = 0.0, secondsBetween = 0.0
        /// When the last draw (round or present) ended.
        var lastDraw: ContinuousClock.Instant?
        /// How often the next buffer is brought up to date between refreshes.
        static let poll: Duration = .milliseconds(3)
        /// Kept free between the end of the last round and the present.
        static let slack: Duration = .milliseconds(2)
        static let k = 0.1

        /// A draw's fixed cost and its cost per changed tile, in seconds.
        var perTile: Double {
            let variance = nn - n * n
            // Draws all of one size say nothing about the split: charge it all per tile.
            guard variance > 0.25 else { return n > 0 ? d / n : 0 }
            return max(0, (nd - n * d) / variance)
        }
        var overhead: Double { max(0, d - perTile * n) }
        /// Changed tiles per second.
        var tilesPerSecond: Double { secondsBetween > 0 ? tilesBetween / secondsBetween : 0 }

        /// Learns from a draw of `tiles` changed tiles that took from `start` to `end`.
        mutating func drew(tiles: Int, from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) {
            let k = Self.k, x = Double(tiles), y = (end - start).seconds
            n += k * (x - n); d += k * (y - d); nn += k * (x * x - nn); nd += k * (x * y - nd)
            if let lastDraw, end > lastDraw {
                tilesBetween += k * (x - tilesBetween)
                secondsBetween += k * ((end - lastDraw).seconds - secondsBetween)
            }
            lastDraw = end
        }

        /// Whether a round started at `now`, drawing what arrived since the last draw, ends by
        /// `due` less the slack.
        func roundFits(now: ContinuousClock.Instant, due: ContinuousClock.Instant) -> Bool {
            guard let lastDraw else { return now + Self.slack < due }
            let load = perTile * tilesPerSecond
            // Clamped: a starved machine can teach the averages absurd figures (a trap here ended a wall).
            return now + .seconds(clamping: overhead + load * max(0, (now - lastDraw).seconds)) + Self.slack < due
        }

        /// The latest moment a round still fits (`roundFits`), so that the last round of a refresh
        /// ends as close to the present as it can.
        func latestStart(due: ContinuousClock.Instant) -> ContinuousClock.Instant? {
            guard let lastDraw else { return nil }
            // A round started t after the last draw ends at t + o + L·t (L = perTile × rate).
            let load = perTile * tilesPerSecond
            let t = ((due - lastDraw).seconds - Self.slack.seconds - overhead) / (1 + load)
            return lastDraw + .seconds(clamping: t)
        }
    }

    /// Until the earliest output's refresh is near, brings each output's next buffer up to date with
    /// the pictures that arrived (drawn into `Output.nextBuffer`, not committed), every `Pace.poll`:
    /// a picture waits milliseconds for the buffer, not a refresh and a whole draw. Returns when the
    /// commit is due.
    private func prepareUntilDue(_ outputs: [any Output], renderer: any Renderer, firstShows: inout [String: FirstShow], pace: inout Pace) throws {
        guard let due = outputs.compactMap(\.presentDue).min() else { return }
        while !worker.isStopRequested {
            let start = ContinuousClock.now
            guard pace.roundFits(now: start, due: due) else { return }
            var tiles = 0
            for output in outputs {
                guard let scene = wall.outputScene(output.id) else { continue }
                try output.check(scene)
                // No free buffer yet (DRM: the flip in flight has not completed): nothing to prepare.
                guard let buffer = try output.nextBuffer() else { continue }
                let stats = try renderer.draw(scene, sources: sources, into: buffer)
                let inBuffer = ContinuousClock.now
                record(stats, output: output.id, at: inBuffer, firstShows: &firstShows)
                tiles += stats.tilesDrawn
                if stats.tilesDrawn > 0 { metrics.update(output: output.id) { $0.prepares += 1; $0.tilesDrawn += stats.tilesDrawn } }
            }
            let end = ContinuousClock.now
            pace.drew(tiles: tiles, from: start, to: end)
            metrics.update(output: outputs[0].id) { $0.prepareSecondsMax = max($0.prepareSecondsMax, (end - start).seconds) }
            // The next round after `poll`, or earlier when that would be too late to fit.
            var wake = start + Pace.poll
            if let latest = pace.latestStart(due: due), latest > end { wake = min(wake, latest) }
            if wake > end { Thread.sleep(forTimeInterval: (wake - end).seconds) }
        }
    }

    /// Records the pictures a draw put in `output`'s buffer for the first time.
    private func record(_ stats: RenderStats, output id: String, at inBuffer: ContinuousClock.Instant, firstShows: inout [String: FirstShow]) {
        let fresh = firstShows[id, default: FirstShow()].newPictures(stats.pictures)
        guard !fresh.isEmpty else { return }
        metrics.recordLatency(output: id, fresh, inBuffer: inBuffer, wallMicros: WallClock.micros())
    }

    /// Copies the picture now on the output for the snapshot writer (on this thread: the next draw
    /// would change it under a reader). Only outputs that can be read back (`PixelReadback`:
    /// headless) have snapshots.
    private func captureSnapshot(_ output: any Output, renderer: any Renderer) {
        guard let snapshots, let readable = output as? any PixelReadback, let buffer = readable.currentBuffer else { return }
        do {
            let picture = try renderer.readPixels(of: buffer)
            snapshots.submit(output: output.id, picture: picture, rotation: output.rotation)
        } catch {
            logger.warning("cannot read the output back for a snapshot", metadata: ["error": "\(error)"])
        }
    }
}
