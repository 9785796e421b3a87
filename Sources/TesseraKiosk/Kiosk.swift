import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TesseraCore
import TesseraInput
import TesseraLayout
import TesseraMedia
import TesseraOutput
import TesseraRender
import TesseraSignal

/// The composition root: signal → room → scene → media → render → output, plus the keyboard,
/// the layout file watcher, health and metrics, each a service of its own in one `ServiceGroup`.
/// `run()` returns after a graceful shutdown (SIGTERM/SIGINT, `shutdown()`, or `exitAfter`), with
/// every thread it started ended.
public final class Kiosk: Sendable {
    public let configuration: KioskConfiguration
    public let wall: Wall
    public let media: MediaEngine
    public let metrics: KioskMetrics
    /// Load shedding under overload (LoadShedder.swift).
    public let shedding = LoadShedding()
    /// The outputs the kiosk lit, fixed for its lifetime (a reload that changes them is refused).
    public let outputs: [OutputConfig]
    private let logger: Logger
    private let group = Mutex<ServiceGroup?>(nil)
    private let stopRequested = Atomic<Bool>(false)
    private let boundHealthPort = Mutex<Int?>(nil)
    private let signalClient = Mutex<SignalClient?>(nil)
    let keyboards: Keyboards
    let layoutWatcher: LayoutWatcher
    let renderThreads = Mutex<[OutputThread]>([])
    let snapshotWriter: SnapshotWriter?

    public init(configuration: KioskConfiguration, logger: Logger = Logger(label: "tessera.kiosk")) throws(KioskError) {
        self.configuration = configuration
        self.logger = logger
        let layout: Layout
        // Taken before the load, so an edit made between the load and the watcher's first look is seen.
        let loadedStamp = LayoutWatcher.stamp(configuration.layoutPath)
        switch LayoutFiles.load(configuration.layoutPath) {
        case .success(let l): layout = l
        case .failure(let e): throw .layout(path: configuration.layoutPath, lines: e.lines)
        }
        outputs = layout.outputs
        metrics = KioskMetrics(outputIDs: layout.outputs.map(\.id))
        media = MediaEngine(configuration: configuration.media, logger: Logger(label: "tessera.media"))
        let room: Room, origin: StreamOrigin
        switch configuration.room {
        case .local(let r): room = r; origin = .localConfig
        case .signal: room = Room(); origin = .network
        }
        wall = Wall(layout: layout, room: room, media: media, origin: origin, logger: Logger(label: "tessera.kiosk.wall"))
        keyboards = Keyboards(choice: configuration.keyboard, wall: wall, metrics: metrics, logger: logger)
        layoutWatcher = LayoutWatcher(path: configuration.layoutPath, interval: configuration.reloadInterval, outputs: outputs,
                                      wall: wall, metrics: metrics, logger: logger, loaded: loadedStamp)
        if let dir = configuration.snapshotDirectory {
            do { snapshotWriter = try SnapshotWriter(directory: dir, metrics: metrics, logger: logger) } catch {
                throw .unavailable("cannot create the snapshot directory \(dir): \(error.localizedDescription)")
            }
        } else {
            snapshotWriter = nil
        }
    }

    /// The port /healthz and /metrics listen on, once they do.
    public var healthPort: Int? { boundHealthPort.withLock { $0 } }

    /// Where output `id`'s snapshot is written, when snapshots are on.
    public func snapshotPath(for id: String) -> String? { snapshotWriter?.path(for: id) }

    /// A key press from any keyboard: the layout's shortcut for it, if any, is applied.
    @discardableResult
    public func press(_ key: KeyPress) -> Action? { keyboards.press(key) }

    /// Starts reading keys from `sources` (tests add a pipe-backed terminal keyboard this way).
    public func addKeyboards(_ sources: [any KeyboardSource]) { keyboards.add(sources) }

    /// Loads the layout file again now. Returns whether the new layout is on the wall.
    @discardableResult
    public func reloadLayout() -> Bool { layoutWatcher.reload() }

    /// The link to the backend, when the room comes from one.
    public var signalLink: SignalLinkStatus? { signalClient.withLock { $0 }?.link }

    /// Starts a graceful shutdown; `run()` returns when it is done.
    public func shutdown() async {
        stopRequested.store(true, ordering: .relaxed)
        if let g = group.withLock({ $0 }) { await g.triggerGracefulShutdown() }
    }

    /// Runs until shutdown. Throws when an output cannot start.
    ///
    /// The services, in start order; a graceful shutdown ends them in the reverse order, each after
    /// the one behind it has returned: `STOPPING=1`, the layout watcher, keyboards, memory upkeep and load shedding, then the
    /// outputs (render threads joined, last snapshots written, streams closed), then the feeds
    /// to and from Signal, the health server, and the signaling client last.
    public func run() async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var client: SignalClient?
        if case .signal(let config) = configuration.room {
            let c = SignalClient(configuration: SignalBridge.advertising(outputs, in: config), logger: Logger(label: "tessera.signal.client"))
            client = c
            signalClient.withLock { $0 = c }
            services.append(.init(service: c))
        }
        if let address = configuration.healthAddress {
            guard let (host, port) = Self.parse(address: address) else {
                throw KioskError.unavailable("health address must be HOST:PORT such as 127.0.0.1:9110, got \(address)")
            }
            services.append(.init(service: HealthServer.make(host: host, port: port, kiosk: self,
                                                             logger: Logger(label: "tessera.kiosk.health")) { [self] p in
                boundHealthPort.withLock { $0 = p }
            }))
        }
        services.append(.init(service: SignalBridge(wall: wall, media: media, client: client)))
        let (lit, litContinuation) = AsyncStream<Void>.makeStream()
        services.append(.init(service: OutputService(kiosk: self, lit: litContinuation)))
        services.append(.init(service: LoadSheddingService(kiosk: self)))
        services.append(.init(service: MemoryUpkeep(logger: Logger(label: "tessera.kiosk.memory"))))
        services.append(.init(service: keyboards))
        services.append(.init(service: layoutWatcher))
        services.append(.init(service: Watchdog(notify: SystemdNotify(), metrics: metrics, outputsLit: lit,
                                                signalLink: { [self] in signalLink }, logger: logger)))
        if let after = configuration.exitAfter {
            services.append(.init(service: ExitAfter(after: after, kiosk: self)))
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: configuration.handleSignals ? [.sigterm, .sigint] : [],
            logger: logger)
        // Every service ends on its own at shutdown (the signaling client cancels its attempt in any
        // phase); these bounds keep SIGTERM under 10 s even if one does not.
        if configuration.boundedShutdown {
            groupConfiguration.maximumGracefulShutdownDuration = .seconds(7)
            groupConfiguration.maximumCancellationDuration = .seconds(2)
        }
        let g = ServiceGroup(configuration: groupConfiguration)
        group.withLock { $0 = g }
        if stopRequested.load(ordering: .relaxed) { return }
        try await g.run()
    }

    static func parse(address: String) -> (String, Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        let host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    /// One line of where things stand, for progress output.
    public func statusLine() -> String {
        let scene = wall.currentScene
        let stats = media.stats
        let playing = stats.streams(in: .playing)
        let outputs = metrics.outputFigures.map { o in
            "\(o.id) \(o.framesPresented) frames (\(String(format: "%.1f", o.meanFrameMs)) ms avg)"
        }.joined(separator: ", ")
        return "preset \(scene.preset) page \(scene.page + 1)/\(scene.pageCount), \(wall.currentRoom.participants.count) participants, "
            + "\(stats.streams.count) streams (\(playing) playing, \(stats.streams(in: .connecting)) connecting, "
            + "\(stats.streams(in: .stalled)) stalled, \(stats.streams(in: .offline)) offline), "
            + String(format: "%.0f", stats.fps) + " decoded fps; " + outputs
            + sheddingStatus
    }

    // MARK: Outputs (the render threads; OutputService runs them)

    func startOutputs() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let kind = configuration.renderer
        let refresh = Dictionary(uniqueKeysWithValues: outputs.map { ($0.id, $0.mode.refresh ?? 60) })
        var threads: [OutputThread] = []
        func launch(_ id: String, refresh: [String: Double], setup: @escaping @Sendable () throws -> OutputThread.Lit) throws {
            let thread = OutputThread(id: id, setup: setup, wall: wall, sources: media, metrics: metrics,
                                      snapshots: snapshotWriter, snapshotInterval: configuration.snapshotInterval,
                                      refresh: refresh, logger: logger)
            do { try thread.start() } catch {
                threads.forEach { $0.stop() }
                threads.forEach { $0.join() }
                throw KioskError.output(id: id, reason: "\(error)")
            }
            threads.append(thread)
        }
        switch configuration.backend {
        case .headless:
            let workers = configuration.workersPerOutput ?? max(1, cores / max(1, outputs.count))
            for o in outputs {
                let spec = HeadlessBackend.OutputSpec(id: o.id, panelSize: Size(width: o.mode.width, height: o.mode.height), rotation: o.rotation)
                let fps = configuration.headlessFPS ?? refresh[o.id]!
                // One headless backend per output, so each is paced by its own refresh.
                try launch(o.id, refresh: [o.id: fps]) {
                    let setup = try OutputFactory.headless([spec], refresh: fps, renderer: kind, workers: workers,
                                                           logger: Logger(label: "tessera.output"))
                    return OutputThread.Lit(backend: setup.backend, renderer: setup.renderer)
                }
            }
        case .drm:
            let specs = outputs.map {
                DRMOutputSpec(id: $0.id, connector: $0.connector, width: $0.mode.width, height: $0.mode.height,
                              refresh: $0.mode.refresh, rotation: $0.rotation)
            }
            let logger = self.logger
            let workers = configuration.workersPerOutput ?? cores
            // One device, one GPU context: its outputs share a render thread, each waiting for its own flip.
            try launch("drm", refresh: refresh) {
                let setup = try OutputFactory.drm(specs, renderer: kind, workers: workers, logger: Logger(label: "tessera.output"))
                let backend = setup.backend
                for (id, why) in backend.problems.sorted(by: { $0.key < $1.key }) {
                    logger.error("output stays dark; `tessera outputs --layout FILE` shows what this machine has",
                                 metadata: ["output": "\(id)", "reason": "\(why)"])
                }
                if backend.outputs.isEmpty {
                    backend.stop()
                    throw KioskError.unavailable("no layout output could be lit on \(backend.devicePath ?? "the DRM device"); "
                                                 + "run `tessera doctor --layout FILE`")
                }
                return OutputThread.Lit(backend: backend, renderer: setup.renderer)
            }
        }
        snapshotWriter?.start()
        renderThreads.withLock { $0 = threads }
        logger.info("outputs lit", metadata: ["outputs": "\(outputs.map(\.id).joined(separator: ","))",
                                              "renderer": "\(configuration.renderer.rawValue)", "backend": "\(configuration.backend.rawValue)"])
    }

    /// Stops the render threads and waits for them, writes the last snapshots, closes the streams.
    func stopOutputs() {
        let threads = renderThreads.withLock { ts in defer { ts.removeAll() }; return ts }
        threads.forEach { $0.stop() }
        for t in threads where !t.join(timeout: .seconds(30)) {
            logger.error("render thread did not end in 30 s", metadata: ["output": "\(t.id)"])
        }
        snapshotWriter?.finish()
        media.shutdown()
        logger.info("stopped")
    }
}

/// Ends the kiosk by itself after `after` (demos, tests, benchmarks).
struct ExitAfter: Service {
    let after: Duration
    let kiosk: Kiosk

    func run() async {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: after) }
        if !Task.isCancelled && !Task.isShuttingDownGracefully { await kiosk.shutdown() }
        try? await gracefulShutdown()
    }
}
