import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import ServiceLifecycle
import TesseraCore
@testable import TesseraSignal
import TesseraSignalServer
import Testing
import WSClient

/// A backend that hangs: it takes the hello, says welcome (unless told not to) and an empty
/// snapshot, and then sends nothing at all — no pong, no event — while it keeps reading.
final class SilentBackend: Sendable {
    actor Log {
        var hellos: [Hello] = []
        var hangUps = 0
        func add(_ h: Hello) { hellos.append(h) }
        func hungUp() { hangUps += 1 }
    }

    private let server: TestWebSocketServer
    var port: Int { server.port }
    let log: Log

    private init(server: TestWebSocketServer, log: Log) {
        self.server = server; self.log = log
    }

    static func start(welcome: Bool, heartbeatMs: Int = 100) async throws -> SilentBackend {
        let log = Log()
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws(RouterPath(stringLiteral: SignalProtocol.webSocketPath)) { _, _ in
            .upgrade([HTTPField.Name("Sec-WebSocket-Protocol")!: SignalProtocol.subprotocol])
        } onUpgrade: { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
            guard case .text(let text)? = try await messages.next(), case .hello(let hello) = try SignalCodec.decode(text).message
            else { return }
            let n = await log.hellos.count + 1
            await log.add(hello)
            if welcome {
                try await outbound.writeTextMessage(SignalCodec.encode(.welcome(Welcome(
                    version: 1, sessionId: "silent.\(n)", heartbeatMs: heartbeatMs, maxMessageBytes: 1 << 20, resumed: false))))
                try await outbound.writeTextMessage(SignalCodec.encode(
                    .snapshot(Snapshot(room: hello.room, participants: [], activeSpeaker: nil, layout: nil)), seq: 0))
            }
            while try await messages.next() != nil {}  // pings and all: read, never answered
            await log.hungUp()
        }
        return SilentBackend(server: try await TestWebSocketServer.start(router, label: "test.silent"), log: log)
    }

    var url: String { server.url }

    func stop() async { await server.stop() }
}

/// Dead-peer detection, the wall's own rate limits and the backend's cut-off for a slow reader.
@Suite(.timeLimit(.minutes(2)))
struct ConnectionLimitTests {
    @Test func aBackendThatStopsAnsweringIsClosedWith4008AndRetried() async throws {
        let backend = try await SilentBackend.start(welcome: true, heartbeatMs: 100)
        let wall = RunningClient(url: backend.url)
        try await eventually("a second connection") { await backend.log.hellos.count >= 2 }

        let first = try #require(await wall.client.disconnects.first)
        #expect(first.closeCode == SignalCloseCode.deadPeer)
        #expect(first.byWall)
        #expect(first.reason.contains("no message from the backend"))
        try await eventually("the backend saw the wall hang up") { await backend.log.hangUps >= 1 }
        // The retry resumes the session the silent backend gave it.
        let second = await backend.log.hellos[1]
        #expect(second.resume?.sessionId == "silent.1")
        #expect(await wall.client.snapshotsApplied >= 1)

        await wall.stop()
        await backend.stop()
    }

    @Test func noWelcomeInTimeIsADeadPeerToo() async throws {
        let backend = try await SilentBackend.start(welcome: false)
        let wall = RunningClient(url: backend.url) { $0.helloTimeout = .milliseconds(300) }
        try await eventually("a second connection") { await backend.log.hellos.count >= 2 }
        let first = try #require(await wall.client.disconnects.first)
        #expect(first.closeCode == SignalCloseCode.deadPeer && first.byWall)
        #expect(await wall.client.snapshotsApplied == 0)
        await wall.stop()
        await backend.stop()
    }

    @Test func aWallOverItsInboundRateClosesWith4029AndCatchesUpByResuming() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...3)
        let backend = try await RunningBackend.start(store: store)
        // A burst of 6 and next to no refill: each connection takes the welcome and a few events.
        let wall = RunningClient(url: backend.url) {
            $0.maxMessagesPerSecond = 0.001
            $0.maxMessageBurst = 6
        }
        try await eventually("snapshot") { await wall.client.snapshotsApplied == 1 }
        for n in 4...23 {
            try await store.upsert(ParticipantInput(id: ParticipantID("p\(n)"), name: "P\(n)", streams: camera("p\(n)")), in: "r")
        }
        try await eventually("all events, over several connections") { await wall.client.lastSeq == 23 }
        #expect(await wall.client.room.participants == (try await backendRoster(store)))
        let disconnects = await wall.client.disconnects
        #expect(disconnects.contains { $0.closeCode == SignalCloseCode.rateLimited && $0.byWall })
        #expect(await wall.client.resumes >= 1)
        #expect(await wall.client.snapshotsApplied == 1, "it resumed; no snapshot again")
        await wall.stop()
        await backend.stop()
    }

    @Test func layoutSetOverItsRateIsRefusedAndNotApplied() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...2)
        let backend = try await RunningBackend.start(store: store)
        // One layout.set now, the next in 1000 s: the rest of the burst is refused.
        let wall = RunningClient(url: backend.url) { $0.maxLayoutSetsPerSecond = 0.001 }
        try await eventually("snapshot") { await wall.client.snapshotsApplied == 1 }
        for preset in ["grid", "hands", "speaker", "gallery", "stage"] {
            try await store.setLayout(preset: preset, in: "r")
        }
        try await eventually("all five events") { await wall.client.lastSeq == 7 }
        #expect(await wall.client.layout == LayoutSelection(preset: "grid", rev: 1))
        try await eventually("four refusals reach the backend") {
            let errors = try await store.view(of: "r").walls.first?.errors ?? []
            return errors.filter { $0.code == .rateLimited }.count == 4
        }
        let messages = try await store.view(of: "r").walls.first!.errors.map(\.message)
        #expect(messages == (2...5).map { "layout.set rev \($0) ignored: over 0.001/s" })
        #expect(await wall.client.disconnects.isEmpty, "a refused layout.set does not cost the connection")
        await wall.stop()
        await backend.stop()
    }

    @Test func aWallThatSaysNothingIsClosedWith4003() async throws {
        let backend = try await RunningBackend.start { $0.helloTimeout = .milliseconds(300) }
        let ws = WebSocketClient(url: backend.url, configuration: .init(maxFrameSize: 1 << 16), logger: testLogger("test.mute")) { inbound, _, _ in
            for try await _ in inbound.messages(maxSize: 1 << 20) {}
        }
        let close = try await ws.run()
        #expect(close.map { WebSocketErrorCode.number($0.closeCode) } == SignalCloseCode.helloRequired)
        await backend.stop()
    }

    /// The backend's own inbound limit: within the burst every ping is answered; past it each
    /// message gets `rate-limited` and is dropped, and the tenth refusal closes with 4029.
    @Test func aWallOverTheBackendsRateGetsRateLimitedThen4029() async throws {
        let backend = try await RunningBackend.start {
            $0.maxMessagesPerSecond = 0.001
            $0.maxMessageBurst = 3
        }
        let pings = (1...20).map { SignalCodec.encode(.ping(Heartbeat(t: Int64($0)))) }
        let s = try await rawSession(backend.url, send: [helloText()] + pings, afterFirst: 2, waitForReplies: 100)
        #expect(s.received.map(\.message.type) == ["welcome", "snapshot"] + Array(repeating: "pong", count: 3) + Array(repeating: "error", count: 9))
        let codes: [SignalErrorCode] = s.received.compactMap { if case .error(let e) = $0.message { e.code } else { nil } }
        #expect(codes == Array(repeating: SignalErrorCode.rateLimited, count: 9))
        #expect(s.closeCode == SignalCloseCode.rateLimited)
        await backend.stop()
    }

    /// A wall that stops reading: the backend queues up to `maxQueuedPerWall` events for it, then
    /// drops it from the room and closes with 4013 once the queue is written; the wall resumes from
    /// the ring and loses nothing.
    @Test func aWallTooSlowToReadIsCutOffWith4013AndResumes() async throws {
        let store = RoomStore(ringCapacity: 4096)
        try await fill(store, ids: 1...2)
        let backend = try await RunningBackend.start(store: store) { $0.maxQueuedPerWall = 16 }
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let recorder = Recorder()
        let slowWall = Task {
            let ws = WebSocketClient(url: backend.url, configuration: .init(maxFrameSize: 1 << 16), logger: testLogger("test.slow")) { inbound, outbound, _ in
                try await outbound.writeTextMessage(helloText())
                for await _ in gate { break }  // reads nothing until the test opens the gate
                for try await message in inbound.messages(maxSize: 8 << 20) {
                    if case .text(let text) = message { await recorder.add(try SignalCodec.decode(text)) }
                }
            }
            return try await ws.run()
        }
        try await eventually("attached") { try await store.view(of: "r").walls.count == 1 }

        // Large updates (about 60 KB each) until socket buffers and the queue are full.
        var updates = 0
        while try await store.view(of: "r").walls.count == 1 {
            updates += 1
            guard updates <= 3000 else { throw TestFailure("the backend never cut the wall off") }
            let layers = (0..<30).map { i in
                StreamLayer(width: 320, height: 180, url: "rtsp://media.example/p1/\(updates)/\(i)/" + String(repeating: "x", count: 1900))
            }
            try await store.upsert(ParticipantInput(id: "p1", streams: [ParticipantStream(kind: .camera, layers: layers)]), in: "r")
        }
        open.yield()
        let close = try await slowWall.value
        #expect(close.map { WebSocketErrorCode.number($0.closeCode) } == SignalCloseCode.slowConsumer)

        let received = await recorder.received
        #expect(received.prefix(2).map(\.message.type) == ["welcome", "snapshot"])
        let seqs = received.dropFirst(2).compactMap(\.seq)
        let snapshotSeq = try #require(received.dropFirst().first?.seq)
        #expect(seqs == Array((snapshotSeq + 1)..<(snapshotSeq + 1 + seqs.count)), "what arrived is in order, without holes")
        let lastSeq = try await store.view(of: "r").seq
        #expect(seqs.last ?? snapshotSeq < lastSeq, "the cut-off wall missed events")

        // Resuming from what it has brings the rest from the ring.
        guard case .welcome(let welcome) = received[0].message else { Issue.record("no welcome"); return }
        let have = seqs.last ?? snapshotSeq
        let resume = SignalCodec.encode(.hello(Hello(wallId: "raw", nodeId: "n", room: "r", token: wallToken,
                                                     resume: ResumeRequest(sessionId: welcome.sessionId, lastSeq: have))))
        let s = try await rawSession(backend.url, send: [resume], waitForReplies: 1 + lastSeq - have)
        guard case .welcome(let again)? = s.received.first?.message else { Issue.record("no welcome"); return }
        #expect(again.resumed)
        #expect(s.received.dropFirst().compactMap(\.seq) == Array((have + 1)...lastSeq))
        await backend.stop()
    }
}

/// Limits the spec helper found missing (docs/signaling.md, "code-vs-spec disagreements"): the rate
/// count never reset, hello's strings were bounded only by the message size, and walls could make
/// rooms without end.
@Suite(.timeLimit(.minutes(2))) struct BackendBoundsTests {
    @Test func refusalsSpreadOverTimeDoNotCloseTheWall() async throws {
        let backend = try await RunningBackend.start {
            $0.maxMessagesPerSecond = 0.001
            $0.maxMessageBurst = 1
            // Long enough that a loaded machine's pauses inside a burst never reset the count.
            $0.rateStrikeWindow = .seconds(5)
        }
        let recorder = Recorder()
        let ping = SignalCodec.encode(.ping(Heartbeat(t: 1)))
        let client = WebSocketClient(url: backend.url, configuration: .init(maxFrameSize: 1 << 16), logger: testLogger("test.strikes")) { inbound, outbound, _ in
            var it = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
            func read(_ n: Int) async throws {
                for _ in 0..<n { guard case .text(let t)? = try await it.next() else { return }; await recorder.add(try SignalCodec.decode(t)) }
            }
            try await outbound.writeTextMessage(helloText())
            try await read(2)                                   // welcome, snapshot
            try await outbound.writeTextMessage(ping)           // within the burst: pong
            for _ in 0..<9 { try await outbound.writeTextMessage(ping) } // 9 refusals
            try await read(10)
            try await Task.sleep(for: .seconds(6))              // a quiet window: the count starts again
            for _ in 0..<9 { try await outbound.writeTextMessage(ping) } // 9 more: still open
            try await read(9)
            try await outbound.writeTextMessage(ping)           // the tenth within the window: 4029
            while try await it.next() != nil {}
        }
        let close = try await client.run()
        let types = await recorder.received.map(\.message.type)
        #expect(types == ["welcome", "snapshot", "pong"] + Array(repeating: "error", count: 18), "\(types)")
        #expect(close.map { WebSocketErrorCode.number($0.closeCode) } == SignalCloseCode.rateLimited)
        await backend.stop()
    }

    @Test(arguments: [
        ("wallId", Hello(versions: [1], wallId: String(repeating: "w", count: 129), nodeId: "n", room: "r", token: wallToken)),
        ("nodeId", Hello(versions: [1], wallId: "w", nodeId: String(repeating: "n", count: 200), room: "r", token: wallToken)),
        ("token", Hello(versions: [1], wallId: "w", nodeId: "n", room: "r", token: String(repeating: "t", count: 5000))),
        ("resume.sessionId", Hello(versions: [1], wallId: "w", nodeId: "n", room: "r", token: wallToken,
                                   resume: ResumeRequest(sessionId: String(repeating: "s", count: 300), lastSeq: 0))),
    ])
    func helloStringsHaveBoundsOfTheirOwn(field: String, hello: Hello) async throws {
        let backend = try await RunningBackend.start()
        let s = try await rawSession(backend.url, send: [SignalCodec.encode(.hello(hello))], waitForReplies: 5)
        let error = s.received.compactMap { if case .error(let e) = $0.message { e } else { nil } }.first
        #expect(error?.code == .malformed && error?.message.contains("hello.\(field)") == true, "\(s.received)")
        #expect(s.closeCode == 1008)
        await backend.stop()
    }

    @Test func roomsMadeByHelloAreCappedAndGoWithTheirLastWall() async throws {
        let store = RoomStore(maxRooms: 3)
        let backend = try await RunningBackend.start(store: store)
        for name in ["a", "b", "c", "d", "e"] {
            // Each wall says hello to a made-up room and leaves: nothing accumulates.
            let s = try await rawSession(backend.url, send: [helloText(room: name)], waitForReplies: 2)
            #expect(s.received.map(\.message.type) == ["welcome", "snapshot"], "room \(name)")
        }
        try await eventually("empty rooms gone") { await store.roomCount == 0 }
        // Three rooms with participants stay; a fourth made-up room is refused.
        try await fill(store, room: "a", ids: 1...1)
        try await fill(store, room: "b", ids: 1...1)
        try await fill(store, room: "c", ids: 1...1)
        let s = try await rawSession(backend.url, send: [helloText(room: "z")], waitForReplies: 2)
        #expect(s.received.first.map { if case .error(let e) = $0.message { e.code == .unknownRoom } else { false } } == true, "\(s.received)")
        await backend.stop()
    }
}
