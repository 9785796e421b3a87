import Foundation
import Logging
import Synchronization
import TesseraCore
import TesseraLayout
import TesseraMedia
import TesseraSignal

/// What the wall tells the outside world (the signaling backend) after a change, in order.
public enum WallReport: Hashable, Sendable {
    /// The preset changed (keyboard, file reload, or applying the backend's `layout.set`).
    case layoutChanged(LayoutChanged)
    /// The page, spotlight or labels changed (protocol 1.1 `view.changed`).
    case viewChanged(ViewChanged)
    /// The visible tiles changed: what to ask the backend for.
    case subscriptions([Subscription])
}

/// Where a change to the view came from, for logs and for `layout.changed`.
public enum ChangeSource: String, Sendable {
    case keyboard, file, backend, local
}

/// The wall's state and its one owner: layout, room, the teacher's view, and the scene made from
/// them. Every change goes through here (under one lock), builds the scene again, publishes it to
/// the render threads, and makes Media's open streams match it. Called from any thread; never
/// blocks on the network or a decoder (MediaEngine.update returns at once).
public final class Wall: @unchecked Sendable {
    // Unchecked: every stored var is guarded by `lock`.
    private let lock = NSLock()
    private var layout: Layout
    private var builder: SceneBuilder
    private var shortcuts: ShortcutMap
    private var room: Room
    private var view: ViewState
    private var scene: Scene
    private var backendRev = 0
    /// The backend's preset switch waiting for its `applyAt`: one at a time, replaced by any newer
    /// selection and cancelled at shutdown, so a stale one never overrides a later choice.
    private var scheduled: (rev: Int, timer: DispatchWorkItem)?
    private var lastSubscriptions: [Subscription] = []
    private var lastRequests: [StreamRequest] = []
    private let origin: StreamOrigin
    private let media: MediaEngine
    private let logger: Logger
    private let reportsContinuation: AsyncStream<WallReport>.Continuation
    private var changes = 0
    /// The scene as the render threads read it: swapped in whole after each rebuild, behind its own
    /// lock, so a render thread never waits for a rebuild or for Media's bookkeeping.
    private let published: Mutex<Scene>

    /// Reports in the order they happened; one consumer (the Kiosk forwards them to Signal).
    public let reports: AsyncStream<WallReport>

    /// `origin`: who gave the room's stream URLs (`.network` for a signaling backend, `.localConfig`
    /// for a roster from the kiosk's own configuration).
    public init(layout: Layout, room: Room = Room(), media: MediaEngine, origin: StreamOrigin = .network,
                logger: Logger = Logger(label: "tessera.kiosk.wall")) {
        self.layout = layout
        self.builder = SceneBuilder(layout: layout)
        self.shortcuts = ShortcutMap(layout.shortcuts)
        self.room = room
        self.view = ViewState(layout: layout)
        self.scene = builder.build(room: room, state: view)
        self.published = Mutex(scene)
        self.media = media
        self.origin = origin
        self.logger = logger
        (reports, reportsContinuation) = AsyncStream.makeStream(of: WallReport.self, bufferingPolicy: .unbounded)
        lock.lock(); refreshStreams(); lock.unlock()
    }

    deinit { reportsContinuation.finish() }

    // MARK: Reading (render threads, health, tests)

    public var currentScene: Scene { published.withLock { $0 } }
    public var currentLayout: Layout { lock.lock(); defer { lock.unlock() }; return layout }
    public var currentView: ViewState { lock.lock(); defer { lock.unlock() }; return view }
    public var currentRoom: Room { lock.lock(); defer { lock.unlock() }; return room }
    /// How many times the scene was rebuilt (for progress lines and tests).
    public var sceneChanges: Int { lock.lock(); defer { lock.unlock() }; return changes }
    /// The streams Media was last asked for.
    public var desiredStreams: [StreamRequest] { lock.lock(); defer { lock.unlock() }; return lastRequests }

    /// The scene of one output; nil if the layout has no such output (any longer). Called by the
    /// render threads at every refresh.
    public func outputScene(_ id: String) -> OutputScene? {
        published.withLock { $0.outputs.first { $0.id == id } }
    }

    // MARK: Changes

    /// A key was pressed: applies the layout's shortcut for it, if any. Returns the action applied.
    @discardableResult
    public func handleKey(_ key: KeyCombo) -> Action? {
        lock.lock()
        guard let action = shortcuts.action(for: key) else {
            lock.unlock()
            logger.debug("key without a shortcut", metadata: ["key": "\(key)"])
            return nil
        }
        lock.unlock()
        logger.info("key", metadata: ["key": "\(key)", "action": "\(action)"])
        apply(action, source: .keyboard)
        return action
    }

    /// Applies a shortcut action as if its key had been pressed.
    public func apply(_ action: Action, source: ChangeSource = .keyboard) {
        lock.lock(); defer { lock.unlock() }
        let before = view
        view = view.applying(action, layout: layout, room: room)
        rebuild()
        // The built scene says which page is really shown (pages wrap there).
        view.page = scene.page
        if view.preset != before.preset { reportPreset(source: source) }
        reportView(ifChangedFrom: before, source: source)
    }

    /// Shows the page, spotlight and labels the backend asked for (protocol 1.1 `view.set`); an
    /// absent field keeps the wall's own, a spotlight on someone not in the room clears it.
    public func apply(view set: ViewSet) {
        lock.lock(); defer { lock.unlock() }
        let before = view
        if let page = set.page { view.page = page }
        if case .some(let spotlight) = set.spotlight { view.spotlight = spotlight.flatMap { room[$0] != nil ? $0 : nil } }
        if let labels = set.labels { view.labelsVisible = labels }
        guard view != before else { return }
        rebuild()
        view.page = scene.page
        reportView(ifChangedFrom: before, source: .backend)
    }

    /// Shows `preset` (the backend's `layout.set`, or a test). Unknown presets are logged and ignored.
    public func selectPreset(_ preset: String, rev: Int? = nil, source: ChangeSource) {
        lock.lock(); defer { lock.unlock() }
        if let rev { backendRev = max(backendRev, rev) }
        guard layout.preset(named: preset) != nil else {
            logger.warning("unknown preset requested; keeping the current one",
                           metadata: ["preset": "\(preset)", "source": "\(source.rawValue)",
                                      "presets": "\(layout.presets.map(\.name).joined(separator: ","))"])
            return
        }
        guard preset != view.preset else { return }
        let before = view
        view.preset = preset
        view.page = 0
        rebuild()
        reportPreset(source: source)
        reportView(ifChangedFrom: before, source: source)
    }

    /// A new roster (from Signal, or a local one).
    public func setRoom(_ room: Room) {
        lock.lock(); defer { lock.unlock() }
        guard room != self.room else { return }
        self.room = room
        if let s = view.spotlight, room[s] == nil { view.spotlight = nil }
        rebuild()
    }

    /// Applies one update from the signaling client: the room, the backend's preset choice, and
    /// its page, spotlight and labels.
    public func apply(_ update: RoomUpdate) {
        setRoom(update.room)
        if let view = update.view { apply(view: view) }
        if update.layoutChanged, let selection = update.layout {
            cancelScheduledSwitch()
            if let at = selection.applyAt {
                let delay = Double(at) / 1000 - Date().timeIntervalSince1970
                if delay > 0 {
                    // Walls split over several machines switch together at `applyAt` (wall-clock time).
                    let timer = DispatchWorkItem { [weak self] in self?.applyScheduledSwitch(selection) }
                    lock.withLock { scheduled = (selection.rev, timer) }
                    DispatchQueue.global().asyncAfter(deadline: .now() + min(delay, 60), execute: timer)
                    return
                }
            }
            selectPreset(selection.preset, rev: selection.rev, source: .backend)
        }
    }

    private func applyScheduledSwitch(_ selection: LayoutSelection) {
        let due = lock.withLock { () -> Bool in
            guard scheduled?.rev == selection.rev else { return false }
            scheduled = nil
            return true
        }
        if due { selectPreset(selection.preset, rev: selection.rev, source: .backend) }
    }

    private func cancelScheduledSwitch() {
        lock.withLock { scheduled?.timer.cancel(); scheduled = nil }
    }

    /// Replaces the layout (hot reload). The preset, page, spotlight and labels carry over when the
    /// new layout still has the preset; otherwise its default preset shows. Streams that stay
    /// visible keep decoding: Media keeps every stream whose URL is unchanged.
    public func setLayout(_ new: Layout) {
        lock.lock(); defer { lock.unlock() }
        guard new != layout else { return }
        let before = view.preset
        layout = new
        builder = SceneBuilder(layout: new)
        shortcuts = ShortcutMap(new.shortcuts)
        if new.preset(named: view.preset) == nil { view = ViewState(preset: new.defaultPreset, labelsVisible: view.labelsVisible) }
        rebuild()
        if view.preset != before { reportPreset(source: .file) }
    }

    /// Stops reporting (the consumer's loop ends) and drops a preset switch still waiting for its time.
    public func finishReports() {
        cancelScheduledSwitch()
        reportsContinuation.finish()
    }

    // MARK: Inside the lock

    private func rebuild() {
        scene = builder.build(room: room, state: view)
        let built = scene
        published.withLock { $0 = built }
        changes += 1
        refreshStreams()
    }

    private func reportPreset(source: ChangeSource) {
        logger.info("preset", metadata: ["preset": "\(view.preset)", "source": "\(source.rawValue)"])
        let s: LayoutChanged.Source = switch source {
        case .keyboard, .local: .keyboard
        case .file: .file
        case .backend: .backend
        }
        reportsContinuation.yield(.layoutChanged(LayoutChanged(preset: view.preset, rev: backendRev, source: s)))
    }

    private func reportView(ifChangedFrom before: ViewState, source: ChangeSource) {
        guard (view.page, view.spotlight, view.labelsVisible) != (before.page, before.spotlight, before.labelsVisible) else { return }
        let s: LayoutChanged.Source = switch source {
        case .keyboard, .local: .keyboard
        case .file: .file
        case .backend: .backend
        }
        reportsContinuation.yield(.viewChanged(ViewChanged(page: view.page, spotlight: view.spotlight, labels: view.labelsVisible, source: s)))
    }

    /// Visible tiles decode every frame; the next page's tiles are kept warm (keyframes only).
    private func refreshStreams() {
        let requests = Self.streamRequests(visible: scene,
                                           warm: scene.pageCount > 1 ? builder.build(room: room, state: nextPageView()) : nil,
                                           room: room, origin: origin)
        if requests != lastRequests {
            lastRequests = requests
            for (id, error) in media.update(desired: requests) {
                logger.warning("stream refused", metadata: ["stream": "\(id)", "reason": "\(error)"])
            }
        }
        let subs = Subscription.from(scene: scene, room: room)
        if subs != lastSubscriptions {
            lastSubscriptions = subs
            reportsContinuation.yield(.subscriptions(subs))
        }
    }

    private func nextPageView() -> ViewState {
        var v = view; v.page = scene.page + 1; return v
    }

    /// The streams a scene needs: per participant stream, the layer that fits its tallest tile.
    public static func streamRequests(visible: Scene, warm: Scene?, room: Room, origin: StreamOrigin) -> [StreamRequest] {
        func needs(_ scene: Scene) -> [StreamID: Int] {
            var heights: [StreamID: Int] = [:]
            for tile in scene.outputs.flatMap(\.tiles) {
                guard let id = tile.participant else { continue }
                let key = StreamID(id, tile.stream)
                // A picture split over displays is as tall as its whole box, not the piece.
                heights[key] = max(heights[key] ?? 0, tile.contentSize.height)
            }
            return heights
        }
        func request(_ key: StreamID, height: Int, priority: StreamPriority) -> StreamRequest? {
            guard let layer = room[key.participant]?.stream(key.kind)?.layer(forHeight: height) else { return nil }
            return StreamRequest(id: key, url: layer.url, origin: origin, priority: priority)
        }
        let shown = needs(visible)
        var out = shown.compactMap { request($0.key, height: $0.value, priority: .visible) }
        if let warm {
            out += needs(warm).filter { shown[$0.key] == nil }.compactMap { request($0.key, height: $0.value, priority: .warm) }
        }
        return out.sorted { $0.id < $1.id }
    }
}
