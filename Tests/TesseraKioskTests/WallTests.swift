import Foundation
import TesseraCore
import TesseraLayout
import TesseraMedia
import TesseraSignal
@testable import TesseraSignalCore
@testable import TesseraKiosk
import Testing

/// The repository root, for the example layouts.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

func exampleLayout(_ name: String) throws -> Layout {
    try LayoutFiles.load("\(repoRoot)/Layouts/\(name)").get()
}

/// A room whose participants have two camera layers (180p and 720p) on unreachable documentation
/// addresses; nothing here opens them.
func layeredRoom(_ n: Int) -> Room {
    Room(participants: (1...n).map { i in
        Participant(id: ParticipantID("p\(i)"), name: "Participant \(i)", joinOrder: i, streams: [
            ParticipantStream(kind: .camera, layers: [
                StreamLayer(width: 320, height: 180, url: "rtsp://192.0.2.1/p\(i)/180"),
                StreamLayer(width: 1280, height: 720, url: "rtsp://192.0.2.1/p\(i)/720"),
            ])])
    })
}

@Suite struct WallTests {
    @Test func visibleTilesAskForTheLayerThatFitsAndTheNextPageIsWarm() throws {
        let layout = try exampleLayout("single-1080p.json")
        let room = layeredRoom(10)
        var view = ViewState(layout: layout)
        view.preset = "speaker"
        view.spotlight = "p1"
        let builder = SceneBuilder(layout: layout)
        let scene = builder.build(room: room, state: view)
        var next = view; next.page = 1
        let requests = Wall.streamRequests(visible: scene, warm: builder.build(room: room, state: next), room: room, origin: .network)
        let byID = Dictionary(uniqueKeysWithValues: requests.map { ($0.id.participant.rawValue, $0) })
        // The spotlight (1080 px high) takes the 720p layer; strip tiles (< 180 px) the 180p one.
        #expect(byID["p1"]?.url == "rtsp://192.0.2.1/p1/720")
        #expect(byID["p1"]?.priority == .visible)
        #expect(byID["p2"]?.url == "rtsp://192.0.2.1/p2/180")
        // Six in the strip; the other three are on the next page and kept warm.
        #expect(requests.filter { $0.priority == .visible }.count == 7)
        #expect(requests.filter { $0.priority == .warm }.map(\.id.participant.rawValue).sorted() == ["p10", "p8", "p9"])
    }

    @Test func presetChangesAreReportedWithTheirSource() async throws {
        let layout = try exampleLayout("single-1080p.json")
        let media = MediaEngine()
        defer { media.shutdown() }
        let wall = Wall(layout: layout, room: Room.synthetic(count: 4), media: media)
        #expect(wall.handleKey(KeyCombo("2")!) == .selectPreset("speaker"))
        wall.selectPreset("content", rev: 7, source: .backend)
        wall.selectPreset("nonexistent", rev: 8, source: .backend)
        #expect(wall.currentView.preset == "content")
        wall.finishReports()
        var changes: [LayoutChanged] = []
        for await r in wall.reports { if case .layoutChanged(let c) = r { changes.append(c) } }
        #expect(changes == [LayoutChanged(preset: "speaker", rev: 0, source: .keyboard),
                            LayoutChanged(preset: "content", rev: 7, source: .backend)])
    }

    /// Protocol 1.1: page, spotlight and label changes are reported with their source, and the
    /// backend's `view.set` is applied (absent fields kept, a spotlight on a stranger cleared).
    @Test func viewChangesAreReportedAndTheBackendsViewIsApplied() async throws {
        let layout = try exampleLayout("single-1080p.json")
        let media = MediaEngine()
        defer { media.shutdown() }
        let wall = Wall(layout: layout, room: Room.synthetic(count: 20), media: media)
        wall.apply(.selectPreset("speaker"))
        wall.apply(.labelsToggle)
        wall.apply(view: ViewSet(page: 1, spotlight: .some("p3"), rev: 1))
        #expect(wall.currentView.page == 1 && wall.currentView.spotlight == "p3" && !wall.currentView.labelsVisible)
        wall.apply(view: ViewSet(spotlight: .some("nobody"), labels: true, rev: 2))
        #expect(wall.currentView.spotlight == nil && wall.currentView.labelsVisible && wall.currentView.page == 1)
        wall.apply(view: ViewSet(labels: true, rev: 3))  // no change, no report
        wall.finishReports()
        var changes: [ViewChanged] = []
        for await r in wall.reports { if case .viewChanged(let c) = r { changes.append(c) } }
        #expect(changes == [ViewChanged(page: 0, spotlight: nil, labels: false, source: .keyboard),
                            ViewChanged(page: 1, spotlight: "p3", labels: false, source: .backend),
                            ViewChanged(page: 1, spotlight: nil, labels: true, source: .backend)])
    }

    @Test func pagesWrapAndAReloadKeepsThePreset() throws {
        var layout = try exampleLayout("single-1080p.json")
        let media = MediaEngine()
        defer { media.shutdown() }
        let wall = Wall(layout: layout, room: Room.synthetic(count: 20), media: media)
        wall.apply(.selectPreset("speaker"))
        let pages = wall.currentScene.pageCount
        #expect(pages > 1)
        wall.apply(.pagePrevious)
        #expect(wall.currentScene.page == pages - 1)
        layout.style.gap = 20
        wall.setLayout(layout)
        #expect(wall.currentView.preset == "speaker")
        #expect(wall.currentLayout.style.gap == 20)
        // A layout without the current preset falls back to its default.
        layout.presets.removeAll { $0.name == "speaker" }
        layout.shortcuts.removeAll { if case .selectPreset("speaker") = $0.action { true } else { false } }
        wall.setLayout(layout)
        #expect(wall.currentView.preset == layout.defaultPreset)
    }
}

/// Issue 15, item 5: the backend's `applyAt` switch was a bare Dispatch timer: a later selection
/// did not cancel it, so a stale scheduled preset overrode the backend's newer choice, and it
/// fired after shutdown. One pending switch now, replaced by any newer selection, cancelled at the end.
@Suite struct ScheduledSwitchTests {
    func update(_ preset: String, rev: Int, inMs: Int64?) -> RoomUpdate {
        let at = inMs.map { Int64(Date().timeIntervalSince1970 * 1000) + $0 }
        var u = RoomUpdate(cause: .snapshot, room: Room.synthetic(count: 4), layout: LayoutSelection(preset: preset, rev: rev, applyAt: at), seq: rev)
        u.layoutChanged = true
        return u
    }

    @Test func aNewerSelectionReplacesAScheduledOne() async throws {
        let media = MediaEngine()
        defer { media.shutdown() }
        let wall = Wall(layout: try exampleLayout("single-1080p.json"), room: Room.synthetic(count: 4), media: media)
        wall.apply(update("speaker", rev: 1, inMs: 300))
        wall.apply(update("content", rev: 2, inMs: nil))
        #expect(wall.currentView.preset == "content")
        try await Task.sleep(for: .milliseconds(800))
        #expect(wall.currentView.preset == "content", "the stale switch to speaker (rev 1) did not fire")
        // A scheduled switch still happens when nothing replaces it.
        wall.apply(update("speaker", rev: 3, inMs: 200))
        #expect(wall.currentView.preset == "content")
        try await Task.sleep(for: .milliseconds(700))
        #expect(wall.currentView.preset == "speaker")
    }

    @Test func shutdownCancelsAScheduledSwitch() async throws {
        let media = MediaEngine()
        defer { media.shutdown() }
        let wall = Wall(layout: try exampleLayout("single-1080p.json"), room: Room.synthetic(count: 4), media: media)
        let before = wall.currentView.preset
        wall.apply(update("speaker", rev: 1, inMs: 200))
        wall.finishReports()
        try await Task.sleep(for: .milliseconds(600))
        #expect(wall.currentView.preset == before)
    }
}
