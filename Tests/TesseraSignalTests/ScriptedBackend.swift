import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import ServiceLifecycle
import TesseraCore
import TesseraSignal
import Testing
import WSCore

/// A backend that is not `SignalServer`: a bare WebSocket server whose every connection runs
/// `script` after reading the wall's hello. Its frame limit is 16 MiB and its writer does not
/// fragment below that, so a test controls the framing: one `write` is one whole frame.
final class ScriptedBackend: Sendable {
    struct Connection: Sendable {
        /// 1 for the first connection, 2 for the next…
        var number: Int
        var hello: Hello
        var outbound: WebSocketOutboundWriter
        func send(_ message: SignalMessage, seq: Int? = nil) async throws {
            try await outbound.writeTextMessage(SignalCodec.encode(message, seq: seq))
        }
        func send(text: String) async throws { try await outbound.writeTextMessage(text) }
        func welcome(session: String, resumed: Bool = false, heartbeatMs: Int = 10_000) async throws {
            try await send(.welcome(Welcome(version: 1, sessionId: session, heartbeatMs: heartbeatMs,
                                            maxMessageBytes: 256 << 10, resumed: resumed)))
        }
    }

    actor Log {
        var hellos: [Hello] = []
        /// What the walls sent after their hello, decoded, per connection number.
        var received: [Int: [SignalEnvelope]] = [:]
        var closes: [Int: UInt16] = [:]
        func add(_ h: Hello) -> Int { hellos.append(h); return hellos.count }
        func add(_ e: SignalEnvelope, on n: Int) { received[n, default: []].append(e) }
        func all() -> [SignalEnvelope] { received.keys.sorted().flatMap { received[$0]! } }
    }

    typealias Script = @Sendable (Connection) async throws -> Void

    private let server: TestWebSocketServer
    var port: Int { server.port }
    let log: Log

    private init(server: TestWebSocketServer, log: Log) {
        self.server = server; self.log = log
    }

    /// Starts the backend. While `script` runs, and after it returns, the connection reads (and
    /// logs) what the wall sends until the wall closes; a script that wants to close does so itself.
    static func start(_ script: @escaping Script) async throws -> ScriptedBackend {
        let log = Log()
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws(RouterPath(stringLiteral: SignalProtocol.webSocketPath)) { _, _ in
            .upgrade([HTTPField.Name("Sec-WebSocket-Protocol")!: SignalProtocol.subprotocol])
        } onUpgrade: { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 16 << 20).makeAsyncIterator()
            guard case .text(let text)? = try await messages.next(), case .hello(let hello) = try SignalCodec.decode(text).message
            else { return }
            let n = await log.add(hello)
            let scripted = Task { try await script(Connection(number: n, hello: hello, outbound: outbound)) }
            defer { scripted.cancel() }
            while let m = try await messages.next() {
                if case .text(let t) = m, let e = try? SignalCodec.decode(t) { await log.add(e, on: n) }
            }
        }
        return ScriptedBackend(server: try await TestWebSocketServer.start(router, maxFrameSize: 16 << 20, label: "test.scripted"), log: log)
    }

    var url: String { server.url }

    func stop() async { await server.stop() }
}

/// A participant as a school's backend typically lists one: a name, a camera with a 180p and a 720p
/// rtsp layer on a media server named by host and port.
func typicalParticipant(_ n: Int) -> ParticipantRecord {
    ParticipantRecord(Participant(id: ParticipantID("p\(n)"), name: "Participant \(n)", role: n == 1 ? .teacher : .student,
                                  joinOrder: n, streams: [ParticipantStream(kind: .camera, layers: [
                                      StreamLayer(width: 320, height: 180, fps: 15, url: "rtsp://media.school.example:8554/p\(n)/180"),
                                      StreamLayer(width: 1280, height: 720, fps: 30, url: "rtsp://media.school.example:8554/p\(n)/720"),
                                  ])]), version: 1)
}
