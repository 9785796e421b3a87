import Foundation
import TesseraCore
import TesseraSignal
import TesseraSignalServer
import Testing

/// The wall's client against the real reference backend on loopback.
@Suite(.timeLimit(.minutes(2)))
struct ClientBackendTests {
    @Test func joinsAndReceivesASnapshotOf250Participants() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...250)
        try await store.setLayout(preset: "grid", in: "r")
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url)
        var updates = wall.client.updates.makeAsyncIterator()
        let first = try #require(await updates.next())

        #expect(first.cause == .snapshot)
        #expect(first.joined.count == 250)
        #expect(first.room.participants == (try await backendRoster(store)))
        #expect(first.layout?.preset == "grid")
        #expect(first.refusals.isEmpty)

        await wall.stop()
        await backend.stop()
    }

    @Test func churnOf50JoinsAndLeavesPerSecondIsAppliedInOrder() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...100)
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url)
        let collector = Task {
            var seen: [RoomUpdate] = []
            for await u in wall.client.updates {
                seen.append(u)
                if u.seq == 200 { break }  // 100 joins, then 100 churn events
            }
            return seen
        }
        try await eventually("snapshot") { await wall.client.snapshotsApplied == 1 }

        // About one second of churn: 50 joins and 50 leaves, alternating (the oldest leaves).
        var expected: [(joined: ParticipantID?, left: ParticipantID?)] = []
        for i in 0..<50 {
            let newcomer = ParticipantID("n\(i)")
            try await store.upsert(ParticipantInput(id: newcomer, name: "Newcomer \(i)", streams: camera(newcomer.rawValue)), in: "r")
            expected.append((newcomer, nil))
            try await Task.sleep(for: .milliseconds(10))
            let leaver = ParticipantID("p\(i + 1)")
            try await store.remove(leaver, from: "r")
            expected.append((nil, leaver))
            try await Task.sleep(for: .milliseconds(10))
        }
        let seen = await collector.value
        let events = seen.dropFirst()
        #expect(seen.first?.cause == .snapshot)
        #expect(events.map(\.seq) == Array(101...200))
        #expect(events.map { $0.joined.first } == expected.map(\.joined))
        #expect(events.map { $0.left.first } == expected.map(\.left))
        #expect(events.allSatisfy { $0.streamsChanged.isEmpty })
        #expect(await wall.client.room.participants == (try await backendRoster(store)))

        await wall.stop()
        await backend.stop()
    }

    @Test func backendRestartWithTheSameStoreResumesWithoutASnapshot() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...250)
        var backend = try await RunningBackend.start(store: store)
        let port = backend.port
        let wall = RunningClient(url: backend.url)
        try await eventually("snapshot") { await wall.client.room.participants.count == 250 }

        await backend.stop()
        // The room moves on while the wall cannot hear it.
        try await fill(store, ids: 251...255)
        for n in 1...3 { try await store.remove(ParticipantID("p\(n)"), from: "r") }
        try await store.setHand("p10", raised: true, in: "r")
        backend = try await RunningBackend.start(store: store, port: port)

        let expected = try await backendRoster(store)
        try await eventually("resume") { await wall.client.room.participants == expected }
        #expect(await wall.client.resumes == 1)
        #expect(await wall.client.snapshotsApplied == 1)
        #expect(await wall.client.room["p10"]?.handRaised == true)
        #expect(Set(expected.map(\.id)).count == expected.count)

        await wall.stop()
        await backend.stop()
    }

    @Test func backendRestartWithNewStateResyncsAsADiff() async throws {
        let before = RoomStore()
        try await fill(before, ids: 1...250)
        var backend = try await RunningBackend.start(store: before)
        let port = backend.port
        let wall = RunningClient(url: backend.url)
        try await eventually("snapshot") { await wall.client.room.participants.count == 250 }
        let roomBefore = await wall.client.room

        await backend.stop()
        // A fresh backend (lost its memory): 200 of the same people, in the same order, and 10 new.
        let after = RoomStore()
        try await fill(after, ids: Array(1...200) + Array(300..<310))
        backend = try await RunningBackend.start(store: after, port: port)

        var resync: RoomUpdate?
        for await u in wall.client.updates where u.cause == .snapshot && u.room.participants.count == 210 {
            resync = u
            break
        }
        let update = try #require(resync)
        #expect(update.left == (201...250).map { ParticipantID("p\($0)") }.sorted())
        #expect(update.joined == (300..<310).map { ParticipantID("p\($0)") }.sorted())
        #expect(update.streamsChanged.isEmpty, "unchanged participants keep decoding")
        #expect(await wall.client.resumes == 0)
        // Stream URLs of the 200 who stayed are exactly what they were.
        for p in update.room.participants where p.id.rawValue.count <= 4 && Int(p.id.rawValue.dropFirst())! <= 200 {
            #expect(p.streams == roomBefore[p.id]?.streams)
        }

        await wall.stop()
        await backend.stop()
    }

    @Test func wallKeepsItsRoomWhileTheBackendIsDown() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...20)
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url)
        try await eventually("snapshot") { await wall.client.room.participants.count == 20 }
        let room = await wall.client.room
        await backend.stop()
        try await eventually("reconnect attempts") {
            if case .waiting(let n) = await wall.client.state { return n >= 2 } else { return false }
        }
        #expect(await wall.client.room == room)
        await wall.stop()
    }

    @Test func disallowedStreamSchemesAreRefusedAndReported() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...3)
        try await store.upsert(ParticipantInput(id: "evil", name: "Evil", streams: [
            ParticipantStream(kind: .camera, layers: [
                StreamLayer(width: 320, height: 180, url: "file:///etc/passwd"),
                StreamLayer(width: 640, height: 360, url: "concat:a.ts|b.ts"),
                StreamLayer(width: 1280, height: 720, url: "http://media.example/x.m3u8"),
            ]),
            ParticipantStream(kind: .screen, layers: [StreamLayer(width: 1920, height: 1080, url: "data:video/mp4;base64,AAAA")]),
        ]), in: "r")
        try await store.upsert(ParticipantInput(id: "mixed", name: "Mixed", streams: [
            ParticipantStream(kind: .camera, layers: [
                StreamLayer(width: 320, height: 180, url: "rtsp://media.example/mixed/180"),
                StreamLayer(width: 1280, height: 720, url: "file:///dev/video0"),
            ]),
        ]), in: "r")
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url)
        try await eventually("snapshot") { await wall.client.room.participants.count == 5 }

        let room = await wall.client.room
        let urls = room.participants.flatMap { $0.streams.flatMap { $0.layers.map(\.url) } }
        #expect(urls.allSatisfy { $0.hasPrefix("rtsp://") })
        #expect(room["evil"]?.streams == [])
        #expect(room["mixed"]?.streams.first?.layers.map(\.url) == ["rtsp://media.example/mixed/180"])

        // A later event with a bad URL is refused the same way.
        try await store.upsert(ParticipantInput(id: "p1", streams: [ParticipantStream(kind: .camera, layers: [
            StreamLayer(width: 320, height: 180, url: "pipe:0")])]), in: "r")
        try await eventually("update") { await wall.client.room["p1"]?.streams == [] }

        try await eventually("refusals reach the backend") {
            let errors = try await store.view(of: "r").walls.first?.errors ?? []
            let refused = errors.filter { $0.code == .urlRefused }
            return Set(refused.compactMap(\.participant)) == ["evil", "mixed", "p1"] && refused.count == 6
        }
        let messages = try await store.view(of: "r").walls.first!.errors.map(\.message)
        #expect(!messages.contains { $0.contains("/etc/passwd") }, "refusals name the scheme, not the URL")

        await wall.stop()
        await backend.stop()
    }

    @Test func subscriptionsAndStatusReachTheBackend() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...4)
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url)
        let subs = [Subscription(participant: "p1", maxHeight: 720), Subscription(participant: "p2", maxHeight: 180)]
        await wall.client.subscribe(subs)
        await wall.client.report(health: [StreamHealth(participant: "p1", state: .playing, fps: 30, kbps: 900, lastFrameAgeMs: 12)])
        try await eventually("subscribe and status") {
            guard let w = try await store.view(of: "r").walls.first else { return false }
            return w.subscriptions == subs && w.status?.streams.first?.state == .playing && w.status?.seq == 4
        }
        await wall.stop()
        await backend.stop()
    }

    @Test func handsSpeakerAndLayoutAreApplied() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...5)
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url)
        try await eventually("snapshot") { await wall.client.room.participants.count == 5 }
        try await store.setHand("p3", raised: true, in: "r")
        try await store.setHand("p2", raised: true, in: "r")
        try await store.setHand("p3", raised: false, in: "r")
        try await store.setSpeaker("p4", in: "r")
        try await store.setLayout(preset: "hands", in: "r")
        try await eventually("events") { await wall.client.lastSeq == 10 }
        let room = await wall.client.room
        #expect(room["p2"]?.handRaised == true)
        #expect(room["p3"]?.handRaised == false)
        #expect(room.activeSpeaker == "p4")
        #expect(await wall.client.layout?.preset == "hands")
        await wall.stop()
        await backend.stop()
    }
}
