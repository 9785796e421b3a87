import Foundation
import TesseraCore
import TesseraSignal
import TesseraSignalServer
import Testing

/// What a consumer of `updates` does with them, reduced to the stream URLs it has open: open
/// `joined`, close `left`, reopen `streamsChanged`.
struct OpenStreams {
    var open: [ParticipantID: [ParticipantStream]] = [:]
    var reopened: [ParticipantID: Int] = [:]

    mutating func apply(_ u: RoomUpdate) {
        for id in u.left { open[id] = nil }
        for id in u.joined { open[id] = u.room[id]?.streams }
        for id in u.streamsChanged {
            open[id] = u.room[id]?.streams
            reopened[id, default: 0] += 1
        }
    }

    static func of(_ room: Room) -> [ParticipantID: [ParticipantStream]] {
        Dictionary(uniqueKeysWithValues: room.participants.map { ($0.id, $0.streams) })
    }
}

func participantRecord(_ n: Int, version: Int = 1, url: String? = nil) -> ParticipantRecord {
    ParticipantRecord(Participant(id: ParticipantID("p\(n)"), name: "P\(n)", joinOrder: n, streams: [
        ParticipantStream(kind: .camera, layers: [StreamLayer(width: 640, height: 360, url: url ?? "rtsp://m/p\(n)")])]), version: version)
}

@Suite struct UpdateMergeTests {
    /// Every way a participant's story can go between two updates, merged in every split.
    @Test func mergedUpdatesOpenCloseAndReopenWhatTheSequenceWould() throws {
        var tracker = RoomTracker()
        var updates = [tracker.apply(snapshot: Snapshot(room: "r", participants: (1...6).map { participantRecord($0) }, activeSpeaker: nil, layout: nil), seq: 1)]
        let events: [SignalMessage] = [
            .participantJoined(participantRecord(7)),                                  // joins
            .participantJoined(participantRecord(8)),
            .participantLeft(ParticipantRef(id: "p8")),                      // joins, then leaves: never seen
            .participantLeft(ParticipantRef(id: "p1")),                      // leaves
            .participantLeft(ParticipantRef(id: "p2")),
            .participantJoined(participantRecord(2, version: 1, url: "rtsp://m/p2-back")),  // leaves and comes back with a new URL
            .participantUpdated(participantRecord(3, version: 2, url: "rtsp://m/p3-new")),  // new URL
            .participantUpdated(participantRecord(4, version: 2)),                     // new version, same URL: keeps decoding
            .handRaised(HandRaised(id: "p5", order: 1, version: 2)),
            .participantUpdated(participantRecord(7, version: 2, url: "rtsp://m/p7-new")),  // joins, then changes: a join
            .layoutSet(LayoutSelection(preset: "hands", rev: 1)),
            .participantLeft(ParticipantRef(id: "p6")),
            .participantJoined(participantRecord(6, version: 1)),                       // leaves and comes back unchanged
        ]
        for (i, e) in events.enumerated() {
            guard case .applied(let u) = tracker.apply(event: e, seq: i + 2) else { Issue.record("not applied"); return }
            updates.append(u)
        }
        var oneByOne = OpenStreams()
        updates.forEach { oneByOne.apply($0) }
        #expect(oneByOne.open == OpenStreams.of(tracker.room))

        // Any split point: the consumer saw the first k one by one and the rest merged.
        for k in 1..<updates.count {
            var consumer = OpenStreams()
            updates.prefix(k).forEach { consumer.apply($0) }
            let merged = updates.dropFirst(k + 1).reduce(updates[k]) { $0.merged(with: $1) }
            consumer.apply(merged)
            #expect(consumer.open == OpenStreams.of(tracker.room), "split at \(k)")
            #expect(merged.room == tracker.room && merged.seq == updates.last!.seq)
            #expect(merged.coalesced == updates.count - k)
            #expect(Set(merged.joined).isDisjoint(with: merged.left))
            if k <= 2 { #expect(!merged.joined.contains("p8") && !merged.left.contains("p8"), "joined and left within the merge") }
            #expect(!merged.streamsChanged.contains("p4"), "an unchanged URL is not reopened")
        }
        let all = updates.dropFirst().reduce(updates[0]) { $0.merged(with: $1) }
        #expect(all.cause == .snapshot)
        #expect(all.joined == (2...7).map { ParticipantID("p\($0)") }.sorted())
        let tail = updates.dropFirst(2).reduce(updates[1]) { $0.merged(with: $1) }
        #expect(tail.joined == ["p7"])
        #expect(tail.left == ["p1"])
        #expect(tail.streamsChanged == ["p2", "p3", "p6"])
        #expect(tail.layoutChanged)
    }
}

@Suite(.timeLimit(.minutes(2)))
struct BoundedUpdatesTests {
    @Test func aCancelledConsumerStopsWaiting() async throws {
        let client = SignalClient(configuration: .init(url: "ws://127.0.0.1:1/signal", room: "r", wallID: "w", token: .value(wallToken)),
                                  logger: testLogger("test.cancel"))
        let consumer = Task {
            var n = 0
            for await _ in client.updates { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        #expect(await consumer.value == 0)
    }

    /// A consumer that does not read while 120 events arrive finds at most `maxPendingUpdates`
    /// waiting, and applying them leaves it with exactly the backend's streams.
    @Test func aStalledConsumerGetsFewMergedUpdatesAndLosesNothing() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...20)
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url) { $0.maxPendingUpdates = 4 }
        var consumer = OpenStreams()
        var it = wall.client.updates.makeAsyncIterator()
        consumer.apply(try #require(await it.next()))  // the snapshot

        for round in 0..<20 {
            let a = 21 + round
            try await store.upsert(ParticipantInput(id: ParticipantID("p\(a)"), name: "New \(a)", streams: camera("p\(a)")), in: "r")
            try await store.remove(ParticipantID("p\(round + 1)"), from: "r")          // p1…p20 leave
            try await store.upsert(ParticipantInput(id: ParticipantID("p\(a)"), streams: camera("p\(a)", host: "moved.example")), in: "r")
            try await store.upsert(ParticipantInput(id: ParticipantID("t\(round)"), name: "Transient"), in: "r")
            try await store.remove(ParticipantID("t\(round)"), from: "r")                // joins and leaves
            try await store.upsert(ParticipantInput(id: ParticipantID("p\(a)"), name: "Renamed \(a)"), in: "r")
        }
        let lastSeq = try await store.view(of: "r").seq
        try await eventually("all applied") { await wall.client.lastSeq == lastSeq }

        var received: [RoomUpdate] = []
        while let u = await it.next() {
            received.append(u)
            consumer.apply(u)
            if u.seq == lastSeq { break }
        }
        #expect(received.count <= 4)
        #expect(received.map(\.coalesced).reduce(0, +) == 120)
        #expect(wall.client.updatesMerged == 120 - received.count)
        #expect(consumer.open == OpenStreams.of(await wall.client.room))
        #expect(consumer.open.keys.allSatisfy { $0.rawValue.hasPrefix("p") && Int($0.rawValue.dropFirst())! > 20 })
        #expect(consumer.open.values.allSatisfy { $0.first?.layers.first?.url.contains("moved.example") == true })

        // Caught up, the consumer gets updates one by one again.
        try await store.setHand("p21", raised: true, in: "r")
        let next = try #require(await it.next())
        #expect(next.coalesced == 1 && next.seq == lastSeq + 1)

        await wall.stop()
        #expect(await it.next() == nil, "updates ends when the client stops")
        await backend.stop()
    }
}
