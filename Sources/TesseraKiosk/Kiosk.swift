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

/// Why the kiosk cannot start, each with what to do about it.
public enum KioskError: Error, CustomStringConvertible {
    /// The layout file is invalid: its problems, as `tessera validate` prints them.
    case layout(path: String, lines: [String])
    case unavailable(String)
    case output(id: String, reason: String)

    public var description: String {
        switch self {
        case .layout(let path, let lines):
            (lines + ["\(path) is not a valid layout; fix the lines above (`tessera validate \(path)` checks it again)"]).joined(separator: "\n")
        case .unavailable(let s): s
        case .output(let id, let reason): "output \(id) could not start: \(reason)"
        }
    }
}

/// The composition root: signal → room → scene → media → render → output, plus the keyboard,
/// the layout file watcher, health and metrics. `run()` returns after a graceful shutdown
/// (SIGTERM/SIGINT, `shutdown()`, or `exitAfter`), with every thread it started ended.
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
    private let keyboards = Mutex<[any KeyboardSource]>([])
    private let renderThreads = Mutex<[OutputThread]>([])
    private let snapshotWriter: SnapshotWriter?
    /// The layout file as it was just before `init` read it: the watcher starts from this, so an
    /// edit made after the load but before the watcher's first look is still seen.
    private let loadedStamp: FileStamp?

    public init(configuration: KioskConfiguration, logger: Logger = Logger(label: "tessera.kiosk")) throws(KioskError) {
        self.configuration = configuration
        self.logger = logger
        let layout: Layout
        loadedStamp = Self.stamp(configuration.layoutPath)
        switch LayoutFiles.load(configuration.layoutPath) {
        case .success(let l): layout = l
        case .failure(let e): throw .layout(path: configuration.layoutPath, lines: e.lines)
        }
        outputs = layout.outputs
        metrics = KioskMetrics(outputIDs: layout.outputs.map(\.id))
        let mediaLogger = Logger(label: "tessera.media")
        media = MediaEngine(configuration: configuration.media, log: MediaLog(minimum: .info) { level, message in
            switch level {
            case .debug: mediaLogger.debug("\(message)")
            case .info: mediaLogger.info("\(message)")
            case .warning: mediaLogger.warning("\(message)")
            case .error: mediaLogger.error("\(message)")
            }
        })
        let room: Room, origin: StreamOrigin
        switch configuration.room {
        case .local(let r): room = r; origin = .localConfig
        case .signal: room = Room(); origin = .network
        }
        wall = Wall(layout: layout, room: room, media: media, origin: origin, logger: Logger(label: "tessera.kiosk.wall"))
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
    public func press(_ key: KeyPress) -> Action? {
        var mods = Set<Modifier>()
        if key.ctrl { mods.insert(.ctrl) }
        if key.alt { mods.insert(.alt) }
        if key.shift { mods.insert(.shift) }
        if key.logo { mods.insert(.superKey) }
        metrics.count("keys")
        return wall.handleKey(KeyCombo(modifiers: mods, key: key.keysym))
    }

    /// Starts a graceful shutdown; `run()` returns when it is done.
    public func shutdown() async {
        stopRequested.store(true, ordering: .relaxed)
        if let g = group.withLock({ $0 }) { await g.triggerGracefulShutdown() }
    }

    /// The signaling configuration with the layout's outputs in `hello.capabilities.outputs`,
    /// unless it names some already.
    static func advertising(_ outputs: [OutputConfig], in config: SignalClientConfiguration) -> SignalClientConfiguration {
        var config = config
        if config.capabilities.outputs.isEmpty {
            config.capabilities.outputs = outputs.map {
                OutputCapability(id: $0.id, connector: $0.connector, width: $0.mode.width, height: $0.mode.height, refresh: $0.mode.refresh)
            }
        }
        return config
    }

    /// Runs until shutdown. Throws when an output cannot start.
    public func run() async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var client: SignalClient?
        if case .signal(let config) = configuration.room {
            let c = SignalClient(configuration: Self.advertising(outputs, in: config), logger: Logger(label: "tessera.signal.client"))
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
        // The core is last, so it is the first to shut down: outputs stop before Signal closes.
        services.append(.init(service: CoreService(kiosk: self, client: client), successTerminationBehavior: .gracefullyShutdownGroup))
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

    /// What is wrong now, for /healthz; empty when healthy.
    public func healthProblems() -> [String] {
        var problems: [String] = []
        let now = metrics.uptime
        for o in metrics.outputFigures {
            if let at = o.lastPresentAt {
                if now - at > 5 { problems.append("output \(o.id): no frame presented for \(Int(now - at)) s") }
            } else if now > 10 {
                problems.append("output \(o.id): nothing presented since start")
            }
        }
        let streams = media.stats.streams
        let offline = streams.filter { $0.state == .offline }.count
        if !streams.isEmpty && offline == streams.count { problems.append("all \(streams.count) streams are offline") }
        if let link = signalLink, let stalled = Self.stalledFor(link) {
            problems.append("signal: the client has not run for \(stalled) s (hung)")
        }
        for k in keyboards.withLock({ $0 }) {
            if let failure = k.failure {
                problems.append("keyboard \(k.name): stopped reading (\(failure)); shortcuts do not work until tessera restarts")
            }
        }
        return problems
    }

    /// The link to the backend, when the room comes from one.
    public var signalLink: SignalLinkStatus? { signalClient.withLock { $0 }?.link }

    /// A client whose liveness beat (once a second) is more than 10 s old is hung: seconds, or nil.
    static func stalledFor(_ link: SignalLinkStatus, now: ContinuousClock.Instant = .now) -> Int? {
        let age = now - link.beat
        return age > .seconds(10) ? Int(age / .seconds(1)) : nil
    }

    /// What /healthz adds to its body without failing: the wall keeps showing the last room it had
    /// while the backend is away, so a lost backend is reported, not a failure of the wall.
    public func healthNotes() -> [String] {
        guard let link = signalLink, !link.connected else { return [] }
        let down = Int((ContinuousClock.now - link.since) / .seconds(1))
        return ["signal: disconnected for \(down) s" + (link.lastError.map { ", last error: \($0)" } ?? "")]
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

    // MARK: Core

    /// Render threads, keyboard, file watcher, the feeds between Signal and the wall; owns the
    /// order of shutting them down.
    struct CoreService: Service {
        let kiosk: Kiosk
        let client: SignalClient?

        func run() async throws {
            try kiosk.startOutputs()
            kiosk.startKeyboard()
            let notify = SystemdNotify()
            notify.send("READY=1")
            try await withThrowingDiscardingTaskGroup { tasks in
                if let client {
                    tasks.addTask { for await update in client.updates { kiosk.wall.apply(update) } }
                    tasks.addTask { await kiosk.forwardReports(to: client) }
                    tasks.addTask { await kiosk.reportHealth(to: client) }
                } else {
                    tasks.addTask { for await _ in kiosk.wall.reports {} }
                }
                tasks.addTask { await kiosk.watchLayout() }
                tasks.addTask { await kiosk.shedLoad() }
                if let interval = notify.watchdogInterval {
                    tasks.addTask { await kiosk.feedWatchdog(notify, every: interval) }
                }
                if let after = kiosk.configuration.exitAfter {
                    tasks.addTask {
                        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: after) }
                        if !Task.isShuttingDownGracefully { await kiosk.shutdown() }
                    }
                }
                try? await gracefulShutdown()
                notify.send("STOPPING=1")
                kiosk.stopAll()
                kiosk.wall.finishReports()
                tasks.cancelAll()
            }
        }
    }

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
                    let setup = try OutputFactory.headless([spec], refresh: fps, renderer: kind, workers: workers)
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
                let setup = try OutputFactory.drm(specs, onEvent: { logger.info("drm: \($0)") }, renderer: kind, workers: workers)
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

    func startKeyboard() {
        var sources: [any KeyboardSource] = []
        switch configuration.keyboard {
        case .none: break
        case .libinput: sources = [LibinputKeyboard()]
        case .terminal: sources = [TerminalKeyboard()]
        case .auto:
            if !LibinputKeyboard.readableEventDevices().isEmpty { sources = [LibinputKeyboard()] }
            else if isatty(STDIN_FILENO) == 1 { sources = [TerminalKeyboard()] }
            else { logger.info("no keyboard: no readable /dev/input device and standard input is not a terminal") }
        }
        addKeyboards(sources)
    }

    /// Starts reading keys from `sources` (tests add a pipe-backed terminal keyboard this way).
    public func addKeyboards(_ sources: [any KeyboardSource]) {
        for source in sources {
            do {
                try source.start { [self] key in press(key) }
                keyboards.withLock { $0.append(source) }
                logger.info("reading keys", metadata: ["from": "\(source.name)"])
            } catch {
                logger.warning("keyboard unavailable", metadata: ["from": "\(source.name)", "reason": "\(error)"])
                if source is LibinputKeyboard, configuration.keyboard == .auto, isatty(STDIN_FILENO) == 1 {
                    addKeyboards([TerminalKeyboard()])
                }
            }
        }
    }

    func stopAll() {
        keyboards.withLock { ks in ks.forEach { $0.stop() }; ks.removeAll() }
        let threads = renderThreads.withLock { ts in defer { ts.removeAll() }; return ts }
        threads.forEach { $0.stop() }
        for t in threads where !t.join(timeout: .seconds(30)) {
            logger.error("render thread did not end in 30 s", metadata: ["output": "\(t.id)"])
        }
        snapshotWriter?.finish()
        media.shutdown()
        logger.info("stopped")
    }

    func forwardReports(to client: SignalClient) async {
        await client.showing(preset: wall.currentView.preset)
        for await report in wall.reports {
            switch report {
            case .layoutChanged(let change): await client.layoutChanged(change)
            case .viewChanged(let change): await client.viewChanged(change)
            case .subscriptions(let subs): await client.subscribe(subs)
            }
        }
    }

    func reportHealth(to client: SignalClient) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let health = media.openStreams.compactMap { id -> StreamHealth? in
                guard let s = media.mailbox(for: id)?.snapshot else { return nil }
                let state = StreamHealth.State(rawValue: s.state.rawValue) ?? .connecting
                return StreamHealth(participant: id.participant, kind: id.kind, state: state, fps: s.fps, kbps: s.kbps,
                                    lastFrameAgeMs: s.lastFrameAgeMs.map { Int($0) }, reconnects: s.reconnects)
            }
            await client.report(health: health)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(2)) }
        }
    }

    /// Pings systemd's watchdog only while every output keeps presenting and the signaling client
    /// (when there is one) keeps running: a hung render thread or a hung client gets the service
    /// restarted. A backend that is merely unreachable does not stop the pings (see /healthz).
    func feedWatchdog(_ notify: SystemdNotify, every interval: Duration) async {
        let readyAt = metrics.uptime
        while !Task.isShuttingDownGracefully {
            let alive = Self.outputsAlive(metrics.outputFigures, now: metrics.uptime, readyAt: readyAt)
            let stalled = signalLink.flatMap { Self.stalledFor($0) }
            if !alive {
                logger.error("an output stopped presenting; not feeding the watchdog")
            } else if let stalled {
                logger.error("the signaling client has not run for \(stalled) s; not feeding the watchdog")
            } else {
                notify.send("WATCHDOG=1")
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Whether every output is presenting: its last present under 10 s ago, or, before its first,
    /// under 60 s since READY. (The grace once counted from the process's start: a GPU driver that
    /// took over 30 s to set up — llvmpipe in a slow VM — had the wall killed at every start.)
    static func outputsAlive(_ outputs: [OutputFigures], now: Double, readyAt: Double) -> Bool {
        outputs.allSatisfy { o in o.lastPresentAt.map { now - $0 < 10 } ?? (now - readyAt < 60) }
    }

    // MARK: Layout hot reload

    struct FileStamp: Equatable { var inode: UInt64; var mtimeNs: Int64; var size: Int64 }

    static func stamp(_ path: String) -> FileStamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileStamp(inode: UInt64(st.st_ino), mtimeNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                         size: Int64(st.st_size))
    }

    /// Polls the layout file's inode, mtime and size (an editor's rename-over and an in-place write
    /// both show); applies a valid edit, logs an invalid one and keeps the last good layout.
    func watchLayout() async {
        let path = configuration.layoutPath
        var last = loadedStamp
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.reloadInterval) }
            if Task.isShuttingDownGracefully { return }
            let now = Self.stamp(path)
            guard now != last else { continue }
            last = now
            if now == nil { logger.warning("layout file is gone; keeping the last good layout", metadata: ["path": "\(path)"]); continue }
            reloadLayout()
        }
    }

    /// Loads the layout file again now. Returns whether the new layout is on the wall.
    @discardableResult
    public func reloadLayout() -> Bool {
        let path = configuration.layoutPath
        switch LayoutFiles.load(path) {
        case .failure(let error):
            metrics.count("layout_reload_rejected")
            for line in error.lines { logger.error("\(line)") }
            logger.error("layout edit rejected: \(error.diagnostics.count) problem(s); the last good layout stays on screen (`tessera validate \(path)` shows them again)")
            return false
        case .success(let layout):
            let running = outputs.map { [$0.id, "\($0.mode.width)x\($0.mode.height)", "\($0.rotation.rawValue)"] }
            let wanted = layout.outputs.map { [$0.id, "\($0.mode.width)x\($0.mode.height)", "\($0.rotation.rawValue)"] }
            guard running == wanted else {
                metrics.count("layout_reload_rejected")
                logger.error("layout edit changes the outputs (ids, modes or rotation); restart tessera to apply it (systemctl restart tessera); the last good layout stays on screen")
                return false
            }
            wall.setLayout(layout)
            metrics.count("layout_reloads")
            logger.info("layout reloaded", metadata: ["path": "\(path)", "presets": "\(layout.presets.count)"])
            return true
        }
    }
}
