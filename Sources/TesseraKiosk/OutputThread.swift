import Foundation
import Logging
import Synchronization
import TesseraCore
import TesseraOutput

/// One output's render thread: waits for the output's next refresh, draws the wall's current scene
/// for it with the newest frame of each stream, and shows it. It reads the scene and the frames
/// with a pointer swap each; it never waits for Signal, Media or the snapshot writer.
final class OutputThread: @unchecked Sendable {
    // Unchecked: the output, renderer and backend are made and used only on the thread this class
    // starts (EGL contexts are bound to one thread); `setupError` is guarded by `done`.
    /// What the render thread draws with, made on that thread.
    struct Lit {
        var backend: any OutputBackend
        var renderer: any Renderer
        var output: any Output
    }
    let id: String
    private let setup: @Sendable () throws -> Lit
    private var setupDone = false
    private var setupError: (any Error)?
    private let wall: Wall
    private let sources: any FrameSourceLookup
    private let metrics: KioskMetrics
    private let snapshots: SnapshotWriter?
    private let snapshotInterval: Duration
    private let refreshInterval: Duration?
    private let logger: Logger
    private let stopFlag = Atomic<Bool>(false)
    private let done = NSCondition()
    private var finished = false

    init(id: String, setup: @escaping @Sendable () throws -> Lit, wall: Wall, sources: any FrameSourceLookup, metrics: KioskMetrics,
         snapshots: SnapshotWriter?, snapshotInterval: Duration, refresh: Double?, logger: Logger) {
        self.id = id; self.setup = setup; self.wall = wall; self.sources = sources; self.metrics = metrics
        self.snapshots = snapshots; self.snapshotInterval = snapshotInterval
        self.refreshInterval = refresh.map { .seconds(1 / $0) }
        var logger = logger
        logger[metadataKey: "output"] = .string(id)
        self.logger = logger
    }

    /// Starts the thread and waits until it has lit its output; throws what setting up threw.
    func start() throws {
        let t = Thread { [self] in
            let lit: Lit
            do { lit = try setup() } catch {
                done.lock(); setupError = error; setupDone = true; finished = true; done.broadcast(); done.unlock()
                return
            }
            done.lock(); setupDone = true; done.broadcast(); done.unlock()
            run(lit)
            lit.backend.stop()
            done.lock(); finished = true; done.broadcast(); done.unlock()
        }
        t.name = "render \(id)"
        t.stackSize = 4 << 20
        t.start()
        done.lock(); defer { done.unlock() }
        while !setupDone { done.wait() }
        if let setupError { throw setupError }
    }

    func stop() { stopFlag.store(true, ordering: .relaxed) }

    @discardableResult
    func join(timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        done.lock(); defer { done.unlock() }
        while !finished { if !done.wait(until: deadline) { return finished } }
        return true
    }

    private func run(_ lit: Lit) {
        let output = lit.output, renderer = lit.renderer
        var lastTick: ContinuousClock.Instant?
        var lastSnapshot: ContinuousClock.Instant?
        var failures = 0
        while !stopFlag.load(ordering: .relaxed) {
            do {
                try output.waitForFrame()
                let tick = ContinuousClock.now
                if let lastTick, let interval = refreshInterval {
                    let ticks = Int(((tick - lastTick) / interval).rounded())
                    if ticks > 1 { metrics.update(output: id) { $0.framesDropped += ticks - 1 } }
                }
                lastTick = tick
                guard let scene = wall.outputScene(id) else { continue }
                let stats = try output.present(scene, renderer: renderer, sources: sources)
                let took = (ContinuousClock.now - tick).seconds
                let at = (ContinuousClock.now - metrics.started).seconds
                metrics.update(output: id) {
                    $0.framesPresented += 1; $0.tilesDrawn += stats.tilesDrawn
                    $0.frameSecondsSum += took; $0.frameSecondsMax = max($0.frameSecondsMax, took)
                    $0.lastFrameSeconds = took; $0.lastPresentAt = at
                }
                failures = 0
                if snapshots != nil, lastSnapshot.map({ ContinuousClock.now - $0 >= snapshotInterval }) ?? true {
                    lastSnapshot = .now
                    captureSnapshot(lit)
                }
            } catch {
                failures += 1
                metrics.update(output: id) { $0.renderErrors += 1 }
                // Logged once per run of failures; the loop keeps trying at a calm pace.
                if failures == 1 { logger.error("drawing the output failed; retrying", metadata: ["error": "\(error)"]) }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        if snapshots != nil { captureSnapshot(lit) }
    }

    /// Copies the picture now on the output for the snapshot writer (on this thread: the next draw
    /// would change it under a reader).
    private func captureSnapshot(_ lit: Lit) {
        guard let snapshots, let headless = lit.output as? HeadlessOutput, headless.framesPresented > 0 else { return }
        do {
            let picture = try lit.renderer.readPixels(of: headless.target)
            snapshots.submit(output: id, picture: picture, rotation: headless.rotation)
        } catch {
            logger.warning("cannot read the output back for a snapshot", metadata: ["error": "\(error)"])
        }
    }
}
