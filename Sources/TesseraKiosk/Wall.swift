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
/// them. Every change goes through here (under one lock, `state`), builds the scene again, publishes it to
/// the render threads, and makes Media's open streams match it. Called from any thread; never
/// blocks on the network or a decoder (MediaEngine.update returns at once).
public final class Wall: Sendable {
    /// Everything a change reads and writes, under one lock.
    private struct State {
        var layout: Layout
        var builder: SceneBuilder
        var shortcuts: ShortcutMap
        var room: Room
        var view: ViewState
        var scene: Scene
        var backendRev = 0
        /// The backend's preset switch waiting for its `applyAt`: one at a time, replaced by any newer
        /// selection and cancelled at shutdown, so a stale one never overrides a later choice.
        var scheduled: (rev: Int, timer: DispatchWorkItem)?
        var lastSubscriptions: [Subscription] = []
        var lastRequests: [StreamRequest] = []
        var changes = 0
    }
    private let state: Mutex<State>
    private let origin: StreamOrigin
    private let media: MediaEngine
    private let logger: Logger
    private let reportsContinuation: AsyncStream<WallReport>.Continuation
    /// The scene as the render threads read it: swapped in whole after each rebuild, behind its own
    /// lock, so a render thread never waits for a rebuild or for Media's bookkeeping.
    private let published: Mutex<Scene>

    /// Reports in the order they happened; one consumer (the Kiosk forwards them to Signal).
    public let reports: AsyncStream<WallReport>

    /// `origin`: who gave the room's stream URLs (`.network` for a signaling backend, `.localConfig`
    /// for a roster from the kiosk's own configuration).
    public init(layout: Layout, room: Room = Room(), media: MediaEngine, origin: StreamOrigin = .network,
                logger: Logger = Logger(label: "tessera.kiosk.wall")) {
        let builder = SceneBuilder(layout: layout)
        let view = ViewState(layout: layout)
        let scene = builder.build(room: room, state: view)
        self.state = Mutex(State(layout: layout, builder: builder, shortcuts: ShortcutMap(layout.shortcuts),
                                 room: room, view: view, scene: scene))
        self.published = Mutex(scene)
        self.media = media
        self.origin = origin
        self.logger = logger
        (reports, reportsContinuation) = AsyncStream.makeStream(of: WallReport.self, bufferingPolicy: .unbounded)
        state.withLock { refreshStreams(&$0) }
    }

    deinit { reportsContinuation.finish() }

    // MARK: Reading (render threads, health, tests)

    public var currentScene: Scene { published.withLock { $0 } }
    public var currentLayout: Layout { state.withLock { $0.layout } }
    public var currentView: ViewState { state.withLock { $0.view } }
    public var currentRoom: Room { state.withLock { $0.room } }
    /// How many times the scene was rebuilt (for progress lines and tests).
    public var sceneChanges: Int { state.withLock { $0.changes } }
    /// The streams Media was last asked for.
    public var desiredStreams: [StreamRequest] { state.withLock { $0.lastRequests } }

    /// The scene of one output; nil if the layout has no such output (any longer). Called by the
    /// render threads at every refresh.
    public func outputScene(_ id: String) -> OutputScene? {
        published.withLock { $0.outputs.first { $0.id == id } }
    }

    // MARK: Changes

    /// A key was pressed: applies the layout's shortcut for it, if any. Returns the action applied.
    @discardableResult
    public func handleKey(_ key: KeyCombo) -> Action? {
        guard let action = state.withLock({ $0.shortcuts.action(for: key) }) else {
            logger.debug("key without a shortcut", metadata: ["key": "\(key)"])
            return nil
        }
        logger.info("key", metadata: ["key": "\(key)", "action": "\(action)"])
        apply(action, source: .keyboard)
        return action
    }

    /// Applies a shortcut action as if its key had been pressed.
    public func apply(_ action: Action, source: ChangeSource = .keyboard) {
        state.withLock { s in
            let before = s.view
            s.view = s.view.applying(action, layout: s.layout, room: s.room)
            rebuild(&s)
            // The built scene says which page is really shown (pages wrap there).
            s.view.page = s.scene.page
            if s.view.preset != before.preset { reportPreset(s, source: source) }
            reportView(s, ifChangedFrom: before, source: source)
        }
    }

    /// Shows the page, spotlight and labels the backend asked for (protocol 1.1 `view.set`); an
    /// absent field keeps the wall's own, a spotlight on someone not in the room clears it.
    public func apply(view set: ViewSet) {
        state.withLock { s in
            let before = s.view
            if let page = set.page { s.view.page = page }
            if case .some(let spotlight) = set.spotlight { s.view.spotlight = spotlight.flatMap { s.room[$0] != nil ? $0 : nil } }
            if let labels = set.labels { s.view.labelsVisible = labels }
            guard s.view != before else { return }
            rebuild(&s)
            s.view.page = s.scene.page
            reportView(s, ifChangedFrom: before, source: .backend)
        }
    }

    /// Shows `preset` (the backend's `layout.set`, or a test). Unknown presets are logged and ignored.
    public func selectPreset(_ preset: String, rev: Int? = nil, source: ChangeSource) {
        state.withLock { s in
            if let rev { s.backendRev = max(s.backendRev, rev) }
            guard s.layout.preset(named: preset) != nil else {
                logger.warning("unknown preset requested; keeping the current one",
                               metadata: ["preset": "\(preset)", "source": "\(source.rawValue)",
                                          "presets": "\(s.layout.presets.map(\.name).joined(separator: ","))"])
                return
            }
            guard preset != s.view.preset else { return }
            let before = s.view
            s.view.preset = preset
            s.view.page = 0
            rebuild(&s)
            reportPreset(s, source: source)
            reportView(s, ifChangedFrom: before, source: source)
        }
    }

    /// A new roster (from Signal, or a local one).
    public func setRoom(_ room: Room) {
        state.withLock { s in
            guard room != s.room else { return }
            s.room = room
            if let spotlight = s.view.spotlight, room[spotlight] == nil { s.view.spotlight = nil }
            rebuild(&s)
        }
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
                    state.withLock { s in
                        let timer = DispatchWorkItem { [weak self] in self?.applyScheduledSwitch(selection) }
                        s.scheduled = (selection.rev, timer)
                        DispatchQueue.global().asyncAfter(deadline: .now() + min(delay, 60), execute: timer)
                    }
                    return
                }
            }
            selectPreset(selection.preset, rev: selection.rev, source: .backend)
        }
    }

    private func applyScheduledSwitch(_ selection: LayoutSelection) {
        let due = state.withLock { s -> Bool in
            guard s.scheduled?.rev == selection.rev else { return false }
            s.scheduled = nil
            return true
        }
        if due { selectPreset(selection.preset, rev: selection.rev, source: .backend) }
    }

    private func cancelScheduledSwitch() {
        state.withLock { s in s.scheduled?.timer.cancel(); s.scheduled = nil }
    }

    /// Replaces the layout (hot reload). The preset, page, spotlight and labels carry over when the
    /// new layout still has the preset; otherwise its default preset shows. Streams that stay
    /// visible keep decoding: Media keeps every stream whose URL is unchanged.
    public func setLayout(_ new: Layout) {
        state.withLock { s in
            guard new != s.layout else { return }
            let before = s.view.preset
            s.layout = new
            s.builder = SceneBuilder(layout: new)
            s.shortcuts = ShortcutMap(new.shortcuts)
            if new.preset(named: s.view.preset) == nil { s.view = ViewState(preset: new.defaultPreset, labelsVisible: s.view.labelsVisible) }
            rebuild(&s)
            if s.view.preset != before { reportPreset(s, source: .file) }
        }
    }

    /// Stops reporting (the consumer's loop ends) and drops a preset switch still waiting for its time.
    public func finishReports() {
        cancelScheduledSwitch()
        reportsContinuation.finish()
    }

    // MARK: Inside the lock

    private func rebuild(_ s: inout State) {
        s.scene = s.builder.build(room: s.room, state: s.view)
        let built = s.scene
        published.withLock { $0 = built }
        s.changes += 1
        refreshStreams(&s)
    }

    private func reportPreset(_ s: State, source: ChangeSource) {
        let view = s.view
        logger.info("preset", metadata: ["preset": "\(view.preset)", "source": "\(source.rawValue)"])
        let changeSource: LayoutChanged.Source = switch source {
        case .keyboard, .local: .keyboard
        case .file: .file
        case .backend: .backend
        }
        reportsContinuation.yield(.layoutChanged(LayoutChanged(preset: view.preset, rev: s.backendRev, source: changeSource)))
    }

    private func reportView(_ s: State, ifChangedFrom before: ViewState, source: ChangeSource) {
        let view = s.view
        guard (view.page, view.spotlight, view.labelsVisible) != (before.page, before.spotlight, before.labelsVisible) else { return }
        let changeSource: LayoutChanged.Source = switch source {
        case .keyboard, .local: .keyboard
        case .file: .file
        case .backend: .backend
        }
        reportsContinuation.yield(.viewChanged(ViewChanged(page: view.page, spotlight: view.spotlight, labels: view.labelsVisible, source: changeSource)))
    }

    /// Visible tiles decode every frame; the next page's tiles are kept warm (keyframes only).
    private func refreshStreams(_ s: inout State) {
        var next = s.view
        next.page = s.scene.page + 1
        let requests = Self.streamRequests(visible: s.scene,
                                           warm: s.scene.pageCount > 1 ? s.builder.build(room: s.room, state: next) : nil,
                                           room: s.room, origin: origin)
        if requests != s.lastRequests {
            s.lastRequests = requests
            for (id, error) in media.update(desired: requests) {
                logger.warning("stream refused", metadata: ["stream": "\(id)", "reason": "\(error)"])
            }
        }
        let subs = Subscription.from(scene: s.scene, room: s.room)
        if subs != s.lastSubscriptions {
            s.lastSubscriptions = subs
            reportsContinuation.yield(.subscriptions(subs))
        }
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
