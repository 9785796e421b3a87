import Foundation
import Logging
import NIOWebSocket
import TesseraCore
@testable import TesseraSignal
import TesseraSignalServer
import Testing
import WSClient

/// What a raw WebSocket peer saw: the backend's messages and how the connection closed.
struct RawSession {
    var received: [SignalEnvelope] = []
    var closeCode: UInt16?
}

actor Recorder {
    var received: [SignalEnvelope] = []
    func add(_ e: SignalEnvelope) { received.append(e) }
}

/// Connects without the client: sends the first of `messages` (raw text), waits for `afterFirst`
/// replies (2 after a good hello: welcome and snapshot), sends the rest, and records what comes back
/// until `waitForReplies` messages in all or the close.
/// Messages up to `maxFrameSize` go out as one frame.
func rawSession(_ url: String, send messages: [String], afterFirst: Int = 0, waitForReplies: Int,
                maxFrameSize: Int = 1 << 16) async throws -> RawSession {
    let recorder = Recorder()
    let client = WebSocketClient(url: url, configuration: .init(maxFrameSize: maxFrameSize), logger: testLogger("test.raw")) { inbound, outbound, _ in
        var it = inbound.messages(maxSize: 8 << 20).makeAsyncIterator()
        var n = 0
        func read(until count: Int) async throws {
            while n < count, let m = try await it.next() {
                guard case .text(let t) = m else { continue }
                await recorder.add(try SignalCodec.decode(t))
                n += 1
            }
        }
        try await outbound.writeTextMessage(messages[0])
        try await read(until: afterFirst)
        for text in messages.dropFirst() { try await outbound.writeTextMessage(text) }
        try await read(until: waitForReplies)
        try await outbound.close(.normalClosure, reason: nil)
    }
    let close = try await client.run()
    return RawSession(received: await recorder.received, closeCode: close.map { WebSocketErrorCode.number($0.closeCode) })
}

func helloText(token: String = wallToken, versions: [Int] = [1], room: String = "r") -> String {
    SignalCodec.encode(.hello(Hello(versions: versions, wallId: "raw", nodeId: "n", room: room, token: token)))
}


@Suite(.timeLimit(.minutes(2)))
struct ProtocolErrorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var after: String
        var code: SignalErrorCode
        var testDescription: String { name }
    }

    /// After a good hello (welcome + snapshot), a bad message gets a non-fatal error and the
    /// connection stays usable (a ping still gets its pong).
    @Test(arguments: [
        Case(name: "malformed JSON", after: #"{"v":1,"type":"status","data":{"seq":"#, code: .malformed),
        Case(name: "not an envelope", after: #"[1,2,3]"#, code: .malformed),
        Case(name: "data does not match type", after: #"{"v":1,"type":"subscribe","data":{"streams":"all"}}"#, code: .malformed),
        Case(name: "unknown type", after: #"{"v":1,"type":"teleport","data":{}}"#, code: .unknownType),
        Case(name: "backend-only type", after: #"{"v":1,"type":"snapshot","data":{"room":"r","participants":[]}}"#, code: .unknownType),
        Case(name: "backend-only type, its data not matching", after: #"{"v":1,"type":"welcome","data":{}}"#, code: .unknownType),
        Case(name: "backend-only type, no data", after: #"{"v":1,"type":"participant.left"}"#, code: .unknownType),
    ])
    func badMessageGetsAnError(_ c: Case) async throws {
        let backend = try await RunningBackend.start()
        let ping = SignalCodec.encode(.ping(Heartbeat(t: 42)))
        let s = try await rawSession(backend.url, send: [helloText(), c.after, ping], afterFirst: 2, waitForReplies: 4)
        #expect(s.received.map(\.message.type) == ["welcome", "snapshot", "error", "pong"])
        guard case .error(let e) = s.received[2].message else { Issue.record("no error"); return }
        #expect(e.code == c.code)
        #expect(!e.fatal)
        await backend.stop()
    }

    @Test func unknownFieldsAreIgnored() async throws {
        let backend = try await RunningBackend.start()
        let ping = #"{"v":1,"type":"ping","seq":null,"future":{"x":1},"data":{"t":7,"extra":"ignored"}}"#
        let s = try await rawSession(backend.url, send: [helloText(), ping], afterFirst: 2, waitForReplies: 3)
        #expect(s.received.map(\.message.type) == ["welcome", "snapshot", "pong"])
        #expect(s.received.last?.message == .pong(Heartbeat(t: 7)))
        await backend.stop()
    }

    @Test func badTokenGetsUnauthorizedAndClose4001() async throws {
        let backend = try await RunningBackend.start()
        let s = try await rawSession(backend.url, send: [helloText(token: "guess")], waitForReplies: 5)
        #expect(s.received.count == 1)
        guard case .error(let e)? = s.received.first?.message else { Issue.record("no error"); return }
        #expect(e.code == .unauthorized && e.fatal)
        #expect(s.closeCode == SignalCloseCode.unauthorized)
        await backend.stop()
    }

    /// A `hello` without `token` is a missing token, not a malformed hello.
    @Test func aHelloWithoutTokenGetsUnauthorizedAndClose4001() async throws {
        let backend = try await RunningBackend.start()
        let hello = #"{"v":1,"type":"hello","data":{"versions":[1],"wallId":"w","nodeId":"n","room":"r","capabilities":{"schemes":["rtsp"],"codecs":["h264"],"maxDecodes":1,"outputs":[]}}}"#
        let s = try await rawSession(backend.url, send: [hello], waitForReplies: 5)
        guard case .error(let e)? = s.received.first?.message else { Issue.record("no error"); return }
        #expect(e.code == .unauthorized && e.fatal)
        #expect(s.closeCode == SignalCloseCode.unauthorized)
        await backend.stop()
    }

    /// The envelope's `v` must be 1, on the hello as on every later message.
    @Test func anEnvelopeVersionOtherThan1GetsClose4002() async throws {
        let backend = try await RunningBackend.start()
        let hello2 = helloText().replacingOccurrences(of: #""v":1"#, with: #""v":2"#)
        let first = try await rawSession(backend.url, send: [hello2], waitForReplies: 5)
        guard case .error(let e)? = first.received.first?.message else { Issue.record("no error"); return }
        #expect(e.code == .unsupportedVersion && e.fatal)
        #expect(first.closeCode == SignalCloseCode.unsupportedVersion)

        let ping2 = #"{"v":2,"type":"ping","data":{"t":1}}"#
        let later = try await rawSession(backend.url, send: [helloText(), ping2], afterFirst: 2, waitForReplies: 5)
        #expect(later.received.map(\.message.type) == ["welcome", "snapshot", "error"])
        guard case .error(let e2)? = later.received.last?.message else { Issue.record("no error"); return }
        #expect(e2.code == .unsupportedVersion && e2.fatal)
        #expect(later.closeCode == SignalCloseCode.unsupportedVersion)
        await backend.stop()
    }

    /// The wall holds the backend to the same rules: `v` other than 1 gets `unsupported-version`
    /// and 4002; a type meant for the backend gets `unknown-type`; a cleared speaker may come as
    /// `{"id":null}` or `{}`.
    @Test func theWallChecksTheBackendsEnvelopes() async throws {
        let backend = try await ScriptedBackend.start { c in
            guard c.number == 1 else { return }  // later connections get no welcome
            try await c.welcome(session: "s.\(c.number)")
            try await c.send(.snapshot(Snapshot(room: "r", participants: [typicalParticipant(1)], activeSpeaker: "p1", layout: nil)), seq: 1)
            try await c.send(text: #"{"v":1,"type":"subscribe","data":{}}"#)
            try await c.send(text: #"{"v":1,"type":"speaker.active","seq":2,"data":{}}"#)
            try await c.send(text: #"{"v":1,"type":"speaker.active","seq":3,"data":{"id":"p1"}}"#)
            try await c.send(text: #"{"v":1,"type":"speaker.active","seq":4,"data":{"id":null}}"#)
            try await c.send(text: #"{"v":2,"type":"ping","data":{"t":1}}"#)
        }
        let wall = RunningClient(url: backend.url)
        // The one with a close code: on a loaded machine an attempt may time out first.
        try await eventually("a close") { await wall.client.disconnects.contains { $0.closeCode != nil } }
        let d = try #require(await wall.client.disconnects.first { $0.closeCode != nil })
        #expect(d.closeCode == SignalCloseCode.unsupportedVersion && d.byWall, "\(d)")
        try await eventually("the wall's two errors") { await backend.log.all().filter { $0.message.type == "error" }.count >= 2 }
        #expect(await wall.client.lastSeq == 4)
        #expect(await wall.client.room.activeSpeaker == nil)
        let errors = await backend.log.all().compactMap { if case .error(let e) = $0.message { e } else { nil } }
        #expect(errors.map(\.code) == [.unknownType, .unsupportedVersion])
        #expect(errors.last?.fatal == true)
        await wall.stop()
        await backend.stop()
    }

    @Test func unsupportedVersionGetsClose4002() async throws {
        let backend = try await RunningBackend.start()
        let s = try await rawSession(backend.url, send: [helloText(versions: [7, 8])], waitForReplies: 5)
        guard case .error(let e)? = s.received.first?.message else { Issue.record("no error"); return }
        #expect(e.code == .unsupportedVersion)
        #expect(s.closeCode == SignalCloseCode.unsupportedVersion)
        await backend.stop()
    }

    @Test func messageBeforeHelloGetsClose4003() async throws {
        let backend = try await RunningBackend.start()
        let s = try await rawSession(backend.url, send: [SignalCodec.encode(.ping(Heartbeat(t: 1)))], waitForReplies: 5)
        guard case .error(let e)? = s.received.first?.message else { Issue.record("no error"); return }
        #expect(e.code == .helloRequired)
        #expect(s.closeCode == SignalCloseCode.helloRequired)
        await backend.stop()
    }

    @Test func oversizedMessageClosesWith1009() async throws {
        let backend = try await RunningBackend.start { $0.maxMessageBytes = 64 << 10 }
        let huge = SignalCodec.encode(.status(WallStatus(seq: 0, preset: String(repeating: "x", count: 200 << 10), streams: [])))
        let s = try await rawSession(backend.url, send: [helloText(), huge], afterFirst: 2, waitForReplies: 5)
        #expect(s.received.map(\.message.type) == ["welcome", "snapshot"])
        #expect(s.closeCode == 1009)
        await backend.stop()
    }

    @Test func wallClientRetriesAfterABadTokenWithoutLosingItsRoom() async throws {
        let backend = try await RunningBackend.start()
        let wall = RunningClient(url: backend.url, token: "wrong")
        try await eventually("refusal") {
            await wall.client.backendErrors.contains { $0.code == .unauthorized && $0.fatal }
        }
        #expect(await wall.client.snapshotsApplied == 0)
        await wall.stop()
        await backend.stop()
    }
}
