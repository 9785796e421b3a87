import Foundation
import TesseraCore
@testable import TesseraSignal
import TesseraSignalServer
import Testing

/// Protocol 1.1: page, spotlight and labels travel both ways (`view.changed`, `view.set`), and a
/// 1.0 peer on either side never sees them.
@Suite(.timeLimit(.minutes(2)))
struct Protocol11Tests {
    /// The first update carrying a view.
    func nextView(_ wall: RunningClient) async -> ViewSet? {
        for await u in wall.client.updates where u.view != nil { return u.view }
        return nil
    }

    @Test func aWallAndTheBackendAgreeOn11() async throws {
        let backend = try await RunningBackend.start()
        let wall = RunningClient(url: backend.url)
        try await eventually("connected") { await wall.client.snapshotsApplied == 1 }
        #expect(await wall.client.negotiatedMinor == 1)
        #expect(try await backend.store.view(of: "r").walls.first?.minor == 1)
        await wall.stop()
        await backend.stop()
    }

    /// A teacher's tablet sets the view through the admin API; every 1.1 wall gets it, one that
    /// connects later too (after its snapshot).
    @Test func theBackendSetsTheView() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...3)
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url)
        try await eventually("connected") { await wall.client.snapshotsApplied == 1 }
        let reply = try await adminCall(backend.port, "POST", "/rooms/r/view", body: #"{"page":2,"spotlight":"p1","labels":false}"#)
        #expect(reply.status == 200, "\(reply.text)")
        let expected = ViewSet(page: 2, spotlight: .some("p1"), labels: false, rev: 1)
        #expect(try reply.decode(ViewSet.self) == expected)
        #expect(await nextView(wall) == expected)

        let late = RunningClient(url: backend.url)
        #expect(await nextView(late) == expected)
        // Clearing the spotlight: null; a participant who is not in the room: 404.
        #expect(try await adminCall(backend.port, "POST", "/rooms/r/view", body: #"{"spotlight":null}"#).status == 200)
        #expect(await nextView(wall) == ViewSet(page: 2, spotlight: .some(nil), labels: false, rev: 2))
        #expect(try await adminCall(backend.port, "POST", "/rooms/r/view", body: #"{"spotlight":"nobody"}"#).status == 404)
        #expect(try await adminCall(backend.port, "POST", "/rooms/r/view", body: #"{"page":-1}"#).status == 400)
        await late.stop()
        await wall.stop()
        await backend.stop()
    }

    /// The keyboard of one node changes the view: the backend records it and the other nodes
    /// (and the reporting one, idempotently) get it.
    @Test func aWallsChangeReachesTheOtherNodes() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...3)
        let backend = try await RunningBackend.start(store: store)
        let node1 = RunningClient(url: backend.url)
        let node2 = RunningClient(url: backend.url)
        try await eventually("node 1 connected") { await node1.client.snapshotsApplied == 1 }
        try await eventually("node 2 connected") { await node2.client.snapshotsApplied == 1 }
        await node1.client.viewChanged(ViewChanged(page: 1, spotlight: "p2", labels: true, source: .keyboard))
        #expect(await nextView(node2) == ViewSet(page: 1, spotlight: .some("p2"), labels: true, rev: 1))
        let view = try await store.view(of: "r")
        #expect(view.view == ViewSet(page: 1, spotlight: .some("p2"), labels: true, rev: 1))
        #expect(view.walls.contains { $0.view == ViewChanged(page: 1, spotlight: "p2", labels: true, source: .keyboard) })
        await node1.stop()
        await node2.stop()
        await backend.stop()
    }

    /// A 1.0 wall (no `hello.minor`) gets no `view.set`, and its welcome says 0.
    @Test func a10WallNeverGetsAViewSet() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...2)
        try await store.setView(page: 3, in: "r")
        let backend = try await RunningBackend.start(store: store)
        let ping = SignalCodec.encode(.ping(Heartbeat(t: 1)))
        let s = try await rawSession(backend.url, send: [helloText(), ping], afterFirst: 2, waitForReplies: 3)
        #expect(s.received.map(\.message.type) == ["welcome", "snapshot", "pong"])
        guard case .welcome(let w)? = s.received.first?.message else { Issue.record("no welcome"); return }
        #expect(w.minor == 0)
        await backend.stop()
    }

    /// Against a 1.0 backend (no `welcome.minor`) the wall does not send `view.changed`.
    @Test func a11WallSendsNoViewChangedToA10Backend() async throws {
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s.\(c.number)")
            try await c.send(.snapshot(Snapshot(room: "r", participants: [], activeSpeaker: nil, layout: nil)), seq: 0)
        }
        let wall = RunningClient(url: backend.url)
        try await eventually("connected") { await wall.client.snapshotsApplied == 1 }
        #expect(await backend.log.hellos.first?.minor == 1)
        await wall.client.viewChanged(ViewChanged(page: 1, spotlight: nil, labels: false, source: .keyboard))
        await wall.client.layoutChanged(LayoutChanged(preset: "grid", rev: 0, source: .keyboard))
        try await eventually("the layout change") { await backend.log.all().contains { $0.message.type == "layout.changed" } }
        #expect(await !backend.log.all().contains { $0.message.type == "view.changed" })
        #expect(await wall.client.negotiatedMinor == 0)
        await wall.stop()
        await backend.stop()
    }
}
