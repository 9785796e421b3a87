import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import ServiceLifecycle
import TesseraCore
import TesseraSignal
import TesseraSignalServer
import Testing
import WSClient

/// Both implementations against the published JSON Schemas (docs/signaling/*.schema.json), checked
/// by `tools/signal-check/validate.py` with Python's `jsonschema`: a second reading of the
/// protocol that does not share code with `SignalCodec`, so the two cannot drift together.
@Suite(.timeLimit(.minutes(2)),
       .enabled("needs /usr/bin/python3 with jsonschema (apt install python3-jsonschema)") { await SchemaValidator.available() })
struct ConformanceTests {
    /// One of every message, as `SignalCodec` writes it, optional fields present and absent.
    @Test func everyMessageSignalCodecWritesConformsToTheSchemas() async throws {
        let record = ParticipantRecord(Participant(id: "p1", name: "Ada", role: .teacher, joinOrder: 0, handRaisedOrder: 3,
                                                   sharesScreen: true, streams: camera("p1") + [ParticipantStream(kind: .screen, layers: [
                                                       StreamLayer(width: 1920, height: 1080, url: "srt://media.example:9000?streamid=p1")])]),
                                       version: 4)
        let bare = ParticipantRecord(Participant(id: "p2", name: "Grace", role: .guest, joinOrder: 1), version: 1)
        let output = OutputCapability(id: "main", connector: "HDMI-A-1", width: 1920, height: 1080, refresh: 60)
        let cases: [(SignalPeer, SignalMessage, Int?)] = [
            (.wall, .hello(Hello(wallId: "w", nodeId: "n", room: "r", token: "t")), nil),
            (.wall, .hello(Hello(wallId: "w", nodeId: "n", room: "r", token: "t",
                                 capabilities: Capabilities(schemes: ["rtsp", "udp"], outputs: [output, OutputCapability(id: "side")]),
                                 resume: ResumeRequest(sessionId: "e.s", lastSeq: 0), minor: 1)), nil),
            (.backend, .welcome(Welcome(version: 1, sessionId: "e.s", heartbeatMs: 10_000, maxMessageBytes: 256 << 10, resumed: false)), nil),
            (.backend, .welcome(Welcome(version: 1, sessionId: "e.s", heartbeatMs: 10_000, maxMessageBytes: 256 << 10, resumed: true,
                                        minor: 1)), nil),
            (.wall, .viewChanged(ViewChanged(page: 2, spotlight: "p1", labels: true, source: .keyboard)), nil),
            (.wall, .viewChanged(ViewChanged(page: 0, spotlight: nil, labels: false, source: .backend)), nil),
            (.backend, .viewSet(ViewSet(page: 1, spotlight: .some("p1"), labels: false, rev: 3)), nil),
            (.backend, .viewSet(ViewSet(spotlight: .some(nil), rev: 4)), nil),
            (.backend, .viewSet(ViewSet(rev: 5)), nil),
            (.backend, .snapshot(Snapshot(room: "r", participants: [], activeSpeaker: nil, layout: nil)), 0),
            (.backend, .snapshot(Snapshot(room: "r", participants: [record, bare], activeSpeaker: "p1",
                                          layout: LayoutSelection(preset: "grid", rev: 3, applyAt: 1_767_225_600_000))), 41),
            (.backend, .participantJoined(bare), 1),
            (.backend, .participantUpdated(record), 2),
            (.backend, .participantLeft(ParticipantRef(id: "p2")), 3),
            (.backend, .speakerActive(SpeakerActive(id: "p1")), 4),
            (.backend, .speakerActive(SpeakerActive(id: nil)), 5),
            (.backend, .handRaised(HandRaised(id: "p1", order: 1, version: 5)), 6),
            (.backend, .handLowered(HandLowered(id: "p1", version: 6)), 7),
            (.backend, .layoutSet(LayoutSelection(preset: "hands", rev: 4)), 8),
            (.backend, .layoutSet(LayoutSelection(preset: "hands", rev: 5, applyAt: 1_767_225_600_000)), 9),
            (.wall, .layoutChanged(LayoutChanged(preset: "grid", rev: 4, source: .keyboard)), nil),
            (.wall, .subscribe(SubscribeRequest(streams: [Subscription(participant: "p1", maxHeight: 720),
                                                          Subscription(participant: "p1", kind: .screen, maxHeight: 1080)])), nil),
            (.wall, .subscribe(SubscribeRequest(streams: [])), nil),
            (.wall, .status(WallStatus(seq: 9, preset: "hands", streams: [
                StreamHealth(participant: "p1", state: .playing, fps: 29.9, kbps: 1850, lastFrameAgeMs: 21, reconnects: 0),
                StreamHealth(participant: "p2", kind: .screen, state: .connecting)])), nil),
            (.wall, .status(WallStatus(seq: 0, preset: nil, streams: [])), nil),
            (.wall, .ping(Heartbeat(t: 1_767_225_600_000)), nil),
            (.backend, .pong(Heartbeat(t: 1_767_225_600_000)), nil),
            (.backend, .ping(Heartbeat(t: 1)), nil),
            (.wall, .pong(Heartbeat(t: 1)), nil),
            (.wall, .error(SignalError(code: .urlRefused, message: "scheme \"file\" is not allowed", participant: "p9")), nil),
            (.wall, .error(SignalError(code: .rosterRefused, message: "… and 4 more participants refused")), nil),
            (.backend, .error(SignalError(code: .unauthorized, message: "bad token", fatal: true)), nil),
            (.backend, .bye(Bye(reason: "backend shutting down", retryAfterMs: 5000)), nil),
            (.wall, .bye(Bye(reason: "shutting down")), nil),
        ]
        let messages = cases.map { (sender, message, seq) in SchemaValidator.Message(sender: sender, text: SignalCodec.encode(message, seq: seq)) }
        let types = Set(messages.compactMap { try? SignalCodec.decode($0.text).message.type })
        #expect(types == SchemaValidator.allTypes, "a message type without a case here (add one)")
        try await SchemaValidator.expectValid(messages)
    }

    /// The schemas are not vacuous: messages the doc calls wrong fail them.
    @Test func theSchemasRefuseWhatTheDocRefuses() async throws {
        let bad: [SchemaValidator.Message] = [
            .init(sender: .backend, text: #"{"v":2,"type":"ping","data":{"t":1}}"#),
            .init(sender: .wall, text: #"{"v":1,"type":"hello","data":{"versions":[1],"wallId":"w","nodeId":"n","room":"r","capabilities":{"schemes":[],"codecs":[],"maxDecodes":1,"outputs":[]}}}"#),
            .init(sender: .backend, text: #"{"v":1,"type":"speaker.active","seq":1,"data":{}}"#),
            .init(sender: .backend, text: #"{"v":1,"type":"participant.left","data":{"id":"p1"}}"#),
            .init(sender: .wall, text: #"{"v":1,"type":"welcome","data":{"version":1,"sessionId":"s","heartbeatMs":1,"maxMessageBytes":1,"resumed":false}}"#),
            .init(sender: .backend, text: #"{"v":1,"type":"snapshot","data":{"room":"r","participants":[]}}"#),
        ]
        for message in bad {
            let result = try await SchemaValidator.run([message])
            #expect(result.status == 1, "accepted: \(message.text)\n\(result.output)")
        }
    }

    /// A short real session on loopback, through a relay that records every text each side sends:
    /// the wall's hello, subscribe, status, layout.changed, view.changed, pings and refusals; the
    /// backend's welcome, snapshot, every room event, view.set, pongs, and its bye on shutdown;
    /// then the wall's resume.
    @Test func everythingTesseraSignalAndTheWallSendConformsToTheSchemas() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...3)
        try await store.upsert(ParticipantInput(id: "p4", name: "Lin", streams: camera("p4", scheme: "file")), in: "r")
        try await store.setHand("p2", raised: true, in: "r")
        try await store.setSpeaker("p1", in: "r")
        try await store.setLayout(preset: "grid", in: "r")
        // Heartbeats short enough for pings in the record, long enough that a loaded machine's pause
        // (3 heartbeats of silence end a connection) does not leave the wall between connections
        // when the backend says bye. At 500 ms, CPU hogs made a 2.4 s pause: the wall closed with
        // 4008, was reconnecting when the backend stopped, and no bye was recorded.
        let configure: @Sendable (inout SignalServerConfiguration) -> Void = { $0.heartbeat = .seconds(2) }
        var backend = try await RunningBackend.start(store: store, configure: configure)
        let relay = try await RecordingRelay.start(upstream: backend.url)
        let wall = RunningClient(url: relay.url)
        var disconnects: [SignalDisconnect] = []

        do {
            try await eventually("the wall's snapshot") { await wall.client.room.participants.count == 4 }
            await wall.client.subscribe([Subscription(participant: "p1", maxHeight: 720)])
            await wall.client.report(health: [StreamHealth(participant: "p1", state: .playing, fps: 30, kbps: 900, lastFrameAgeMs: 12)])
            await wall.client.layoutChanged(LayoutChanged(preset: "grid", rev: 1, source: .keyboard))
            try await store.upsert(ParticipantInput(id: "p5", name: "Ken", role: .guest), in: "r")
            try await store.upsert(ParticipantInput(id: "p5", sharesScreen: true, streams: camera("p5")), in: "r")
            try await store.setHand("p2", raised: false, in: "r")
            try await store.setHand("p1", raised: true, in: "r")
            try await store.setView(page: 1, spotlight: .some("p1"), labels: false, in: "r")
            await wall.client.viewChanged(ViewChanged(page: 1, spotlight: nil, labels: true, source: .keyboard))
            try await store.setSpeaker(nil, in: "r")
            try await store.setLayout(preset: "hands", applyAt: 1_767_225_600_000, in: "r")
            try await store.remove("p3", from: "r")
            let seq = try await store.view(of: "r").seq
            try await eventually("the wall's events") { await wall.client.lastSeq == seq }
            // And the answer to a ping: the backend's pong may come after the wall's first ping
            // is recorded, and a busy test process gets to the shutdown before it.
            try await eventually("the wall's reports and a pong") {
                let types = await relay.types(from: .wall)
                let answers = await relay.types(from: .backend)
                return ["subscribe", "status", "layout.changed", "view.changed", "ping", "error"].allSatisfy(types.contains)
                    && answers.contains("pong")
            }

            // The backend shuts down (bye, 1001) and comes back with the same rooms: the wall resumes.
            let port = backend.port
            try await eventually("connected when the backend says bye") {
                if case .connected = await wall.client.state { true } else { false }
            }
            await backend.stop()
            backend = try await RunningBackend.start(store: store, port: port, configure: configure)
            try await eventually("the wall's resume") { await wall.client.resumes >= 1 }
            try await store.upsert(ParticipantInput(id: "p6", name: "Ola"), in: "r")
            try await eventually("an event after the resume") { await wall.client.room.participants.count == 5 }
            disconnects = await wall.client.disconnects
        } catch {
            await wall.stop(); await backend.stop(); await relay.stop()
            throw error
        }
        await wall.stop()
        await backend.stop()
        await relay.stop()

        let recorded = await relay.recorded
        let backendTypes = Set(recorded.filter { $0.sender == .backend }.compactMap { try? SignalCodec.decode($0.text).message.type })
        #expect(backendTypes.isSuperset(of: ["welcome", "snapshot", "participant.joined", "participant.updated", "participant.left",
                                             "speaker.active", "hand.raised", "hand.lowered", "layout.set", "view.set", "pong", "bye"]),
                "the backend sent only \(backendTypes.sorted()); the wall's connections ended: \(disconnects)")
        #expect(recorded.contains { $0.sender == .wall && $0.text.contains("\"resume\"") }, "no hello with resume")
        #expect(recorded.contains { $0.sender == .backend && $0.text.contains("\"resumed\":true") }, "no resumed welcome")
        try await SchemaValidator.expectValid(recorded)
    }
}

/// Runs tools/signal-check/validate.py: one Python process, the messages as JSON lines on its
/// stdin (from a file, so no write can block), waited on with a termination handler.
enum SchemaValidator {
    struct Message: Sendable, Encodable {
        var sender: SignalPeer
        var text: String
        private enum CodingKeys: String, CodingKey { case sender, text }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(sender.rawValue, forKey: .sender)
            try c.encode(text, forKey: .text)
        }
    }

    static let python = "/usr/bin/python3"
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/signal-check/validate.py").path

    static let allTypes: Set<String> = ["hello", "welcome", "snapshot", "participant.joined", "participant.updated",
                                        "participant.left", "speaker.active", "hand.raised", "hand.lowered", "layout.set",
                                        "layout.changed", "view.changed", "view.set", "subscribe", "status", "ping", "pong",
                                        "error", "bye"]

    static func available() async -> Bool {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        return (try? await execute([python, "-c", "import jsonschema"], stdin: nil).status) == 0
    }

    static func run(_ messages: [Message]) async throws -> (status: Int32, output: String) {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: input) }
        let encoder = JSONEncoder()
        var lines = Data()
        for m in messages {
            lines.append(try encoder.encode(m))
            lines.append(0x0A)
        }
        try lines.write(to: input)
        return try await execute([python, script], stdin: input)
    }

    static func expectValid(_ messages: [Message], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let result = try await run(messages)
        #expect(result.status == 0, "messages that do not conform:\n\(result.output)", sourceLocation: sourceLocation)
        #expect(result.output.contains("checked \(messages.count) messages, 0 invalid"), "\(result.output)", sourceLocation: sourceLocation)
    }

    /// Output goes to a file, not a pipe: a pipe that fills up would stall the validator, and
    /// nothing here may block a cooperative thread reading it.
    private static func execute(_ arguments: [String], stdin: URL?) async throws -> (status: Int32, output: String) {
        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString).out")
        guard FileManager.default.createFile(atPath: outputURL.path, contents: nil) else {
            throw TestFailure("cannot create \(outputURL.path)")
        }
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let output = try FileHandle(forWritingTo: outputURL)
        defer { try? output.close() }
        let input = try stdin.map { try FileHandle(forReadingFrom: $0) }
        defer { try? input?.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = ["PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"]
        process.standardInput = input ?? FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return (status, (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "")
    }
}

/// A WebSocket relay between a wall and a backend that records every text message each side sends,
/// as sent. Each wall connection gets its own upstream connection; when either side ends, so does
/// the other.
final class RecordingRelay: Sendable {
    private let server: TestWebSocketServer
    var port: Int { server.port }
    private let log: Log

    actor Log {
        var recorded: [SchemaValidator.Message] = []
        func add(_ m: SchemaValidator.Message) { recorded.append(m) }
    }

    private init(server: TestWebSocketServer, log: Log) {
        self.server = server; self.log = log
    }

    var recorded: [SchemaValidator.Message] { get async { await log.recorded } }

    func types(from sender: SignalPeer) async -> Set<String> {
        Set(await log.recorded.filter { $0.sender == sender }.compactMap { try? SignalCodec.decode($0.text).message.type })
    }

    static func start(upstream: String) async throws -> RecordingRelay {
        let log = Log()
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws(RouterPath(stringLiteral: SignalProtocol.webSocketPath)) { _, _ in
            .upgrade([HTTPField.Name("Sec-WebSocket-Protocol")!: SignalProtocol.subprotocol])
        } onUpgrade: { wallInbound, wallOutbound, _ in
            var config = WebSocketClientConfiguration(maxFrameSize: 16 << 20)
            config.additionalHeaders = [HTTPField.Name("Sec-WebSocket-Protocol")!: SignalProtocol.subprotocol]
            let close = try await WebSocketClient.connect(url: upstream, configuration: config, logger: testLogger("test.relay.up")) {
                backendInbound, backendOutbound, _ in
                await withThrowingTaskGroup(of: Void.self) { relay in
                    relay.addTask {
                        for try await m in backendInbound.messages(maxSize: 16 << 20) {
                            guard case .text(let t) = m else { continue }
                            await log.add(.init(sender: .backend, text: t))
                            try await wallOutbound.writeTextMessage(t)
                        }
                    }
                    relay.addTask {
                        for try await m in wallInbound.messages(maxSize: 16 << 20) {
                            guard case .text(let t) = m else { continue }
                            await log.add(.init(sender: .wall, text: t))
                            try await backendOutbound.writeTextMessage(t)
                        }
                        try? await backendOutbound.close(.normalClosure, reason: nil)
                    }
                    _ = try? await relay.next()
                    relay.cancelAll()
                }
            }
            try? await wallOutbound.close(close.map { $0.closeCode } ?? .goingAway, reason: close?.reason)
        }
        return RecordingRelay(server: try await TestWebSocketServer.start(router, maxFrameSize: 16 << 20, label: "test.relay"), log: log)
    }

    var url: String { server.url }

    func stop() async { await server.stop() }
}
