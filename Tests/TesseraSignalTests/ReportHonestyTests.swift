import Foundation
import TesseraCore
import TesseraSignal
import Testing

/// What the wall reports must match the room it reports for. The Python backend written from
/// docs/signaling.md alone (tools/pybackend) found four places where it did not: a `status` whose
/// `seq` already had a participant gone still listed their stream; `status.preset` was missing
/// until the first `layout.set`; the `subscribe` sent right after a welcome described the room from
/// before the reconnect; and a participant whose every URL was refused was still subscribed.
@Suite(.timeLimit(.minutes(2))) struct ReportHonestyTests {
    func snapshot(_ ids: [Int]) -> SignalMessage {
        .snapshot(Snapshot(room: "r", participants: ids.map(typicalParticipant), activeSpeaker: nil, layout: nil))
    }

    func statuses(_ backend: ScriptedBackend) async -> [WallStatus] {
        await backend.log.all().compactMap { if case .status(let s) = $0.message { return s } else { return nil } }
    }

    @Test func aStatusListsOnlyTheStreamsOfTheRoomAtItsSeq() async throws {
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s.1")
            try await c.send(snapshot([1, 2]), seq: 2)
            try await Task.sleep(for: .milliseconds(600))
            try await c.send(.participantLeft(ParticipantRef(id: "p2")), seq: 3)
        }
        let wall = RunningClient(url: backend.url)
        // The kiosk's figures still list p2 (its stream closes after a grace period).
        await wall.client.report(health: [StreamHealth(participant: "p1", state: .playing), StreamHealth(participant: "p2", state: .playing)])
        try await eventually("a status at seq 3") { await statuses(backend).contains { $0.seq == 3 } }
        let all = await statuses(backend)
        #expect(all.contains { $0.seq == 2 && $0.streams.map(\.participant) == ["p1", "p2"] }, "\(all)")
        for s in all where s.seq >= 3 {
            #expect(s.streams.map(\.participant) == ["p1"], "status at seq \(s.seq) lists \(s.streams.map(\.participant))")
        }
        await wall.stop()
        await backend.stop()
    }

    @Test func aStatusNamesThePresetOnScreenBeforeAnyLayoutSet() async throws {
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s.1")
            try await c.send(snapshot([1]), seq: 1)
        }
        let wall = RunningClient(url: backend.url)
        await wall.client.showing(preset: "gallery")
        try await eventually("a status") { await !statuses(backend).isEmpty }
        #expect(await statuses(backend).allSatisfy { $0.preset == "gallery" })
        await wall.stop()
        await backend.stop()
    }

    @Test func subscriptionsAfterAReconnectAreForTheNewRoom() async throws {
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s.\(c.number)")
            if c.number == 1 {
                try await c.send(snapshot([1, 2, 3]), seq: 3)
                try await Task.sleep(for: .milliseconds(800))
                try await c.outbound.close(.goingAway, reason: "restarting with another room")
            } else {
                try await c.send(snapshot([4, 5]), seq: 1) // a backend that lost its state
            }
        }
        let wall = RunningClient(url: backend.url)
        // The test is the kiosk: it answers each room with the tiles it would show.
        let kiosk = Task {
            for await update in wall.client.updates {
                await wall.client.subscribe(update.room.participants.map { Subscription(participant: $0.id, maxHeight: 180) })
            }
        }
        defer { kiosk.cancel() }
        try await eventually("subscriptions on the second connection") {
            await backend.log.received[2]?.contains { if case .subscribe = $0.message { return true } else { return false } } ?? false
        }
        try await Task.sleep(for: .milliseconds(400))
        let second = await backend.log.received[2] ?? []
        let subscribes = second.compactMap { if case .subscribe(let s) = $0.message { return s.streams.map(\.participant) } else { return nil } }
        #expect(subscribes.allSatisfy { Set($0).isSubset(of: ["p4", "p5"]) }, "stale subscriptions: \(subscribes)")
        #expect(subscribes.last == ["p4", "p5"])
        await wall.stop()
        await backend.stop()
    }

    @Test func aParticipantWithoutAStreamIsNotSubscribed() {
        var people = Room.synthetic(count: 2).participants
        people[0].streams = [ParticipantStream(kind: .camera, layers: [StreamLayer(width: 320, height: 180, url: "rtsp://media.example/p1")])]
        people[1].streams = [] // every URL refused
        let room = Room(participants: people)
        let tiles = room.participants.enumerated().map { i, p in
            Tile(participant: p.id, zone: "z", rect: Rect(x: i * 100, y: 0, width: 100, height: 90), fit: .cover,
                 background: Color(red: 0, green: 0, blue: 0))
        }
        let scene = Scene(preset: "p", page: 0, pageCount: 1, outputs: [
            OutputScene(id: "o", size: Size(width: 200, height: 90), rotation: .none, background: Color(red: 0, green: 0, blue: 0), tiles: tiles)])
        #expect(Subscription.from(scene: scene).count == 2)
        #expect(Subscription.from(scene: scene, room: room).map(\.participant) == [room.participants[0].id])
    }
}
