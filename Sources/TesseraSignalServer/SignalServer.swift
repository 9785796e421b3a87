import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import TesseraCore
import TesseraSignal

public struct SignalServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port; `onListening` reports it.
    public var port: Int
    /// Tokens walls may present in `hello`.
    public var wallTokens: [SignalToken]
    /// Token for the admin API (`Authorization: Bearer …`).
    public var adminToken: SignalToken
    public var heartbeat: Duration
    /// Largest message accepted from a wall; larger closes with 1009.
    public var maxMessageBytes: Int
    /// Per wall: messages per second (and burst) before `rate-limited`; ten refusals close with 4029.
    public var maxMessagesPerSecond: Double
    public var maxMessageBurst: Double
    /// A wall must say hello within this time, else the connection closes with 4003.
    public var helloTimeout: Duration
    /// Events queued for one wall before it is cut off (it resumes from the ring).
    public var maxQueuedPerWall: Int

    public init(host: String = "127.0.0.1", port: Int = 0, wallTokens: [SignalToken], adminToken: SignalToken,
                heartbeat: Duration = .seconds(10), maxMessageBytes: Int = 256 << 10, maxMessagesPerSecond: Double = 50,
                maxMessageBurst: Double = 100, helloTimeout: Duration = .seconds(10), maxQueuedPerWall: Int = 8192) {
        self.host = host; self.port = port; self.wallTokens = wallTokens; self.adminToken = adminToken
        self.heartbeat = heartbeat; self.maxMessageBytes = maxMessageBytes; self.maxMessagesPerSecond = maxMessagesPerSecond
        self.maxMessageBurst = maxMessageBurst; self.helloTimeout = helloTimeout; self.maxQueuedPerWall = maxQueuedPerWall
    }
}

/// The reference signaling backend: WebSocket endpoint for walls at `/signal`, JSON admin API
/// under `/rooms`, rooms in a `RoomStore`. Passing the same store to a new server after a restart
/// keeps the rooms and the ring, so walls resume; a new store makes them resync from a snapshot.
public struct SignalServer: Service {
    public let configuration: SignalServerConfiguration
    public let store: RoomStore
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    public init(configuration: SignalServerConfiguration, store: RoomStore = RoomStore(),
                logger: Logger = Logger(label: "tessera.signal.server"),
                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.configuration = configuration; self.store = store; self.logger = logger; self.onListening = onListening
    }

    public func run() async throws {
        let router = Router()
        AdminAPI(store: store, adminToken: configuration.adminToken).register(on: router)

        let wsRouter = Router(context: BasicWebSocketRequestContext.self)
        let handler = WallConnectionHandler(configuration: configuration, store: store, logger: logger)
        wsRouter.ws(RouterPath(stringLiteral: SignalProtocol.webSocketPath)) { request, _ in
            let offered = request.headers[values: HTTPField.Name("Sec-WebSocket-Protocol")!]
                .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if offered.isEmpty { return .upgrade([:]) }
            guard offered.contains(SignalProtocol.subprotocol) else { return .dontUpgrade }
            return .upgrade([HTTPField.Name("Sec-WebSocket-Protocol")!: SignalProtocol.subprotocol])
        } onUpgrade: { inbound, outbound, context in
            try await handler.handle(inbound: inbound, outbound: outbound, logger: context.logger)
        }

        let ws = WebSocketServerConfiguration(maxFrameSize: 1 << 16, autoPing: .enabled(timePeriod: configuration.heartbeat * 3),
                                              closeTimeout: .seconds(5))
        let onListening = self.onListening
        let logger = self.logger
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: wsRouter, configuration: .init(ws: ws)),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("signaling backend listening", metadata: ["address": "\(configuration.host):\(port)"])
                await onListening(port)
            },
            logger: logger)
        do {
            try await app.run()
        } catch {
            await store.detachAll()
            throw error
        }
        await store.detachAll()
    }
}

/// One wall's WebSocket: hello and auth, then the room's events out and the wall's reports in.
struct WallConnectionHandler: Sendable {
    let configuration: SignalServerConfiguration
    let store: RoomStore
    let logger: Logger

    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async throws {
        let id = UUID()
        var logger = logger
        logger[metadataKey: "connection"] = .string(id.uuidString.prefix(8).lowercased())
        let (out, outContinuation) = AsyncStream.makeStream(of: String.self,
                                                             bufferingPolicy: .bufferingOldest(configuration.maxQueuedPerWall))
        var room: String?
        defer {
            outContinuation.finish()
            if let room { Task { [store] in await store.detach(id, room: room) } }
        }
        func reply(_ m: SignalMessage) { outContinuation.yield(SignalCodec.encode(m)) }
        func refuse(_ code: SignalErrorCode, _ message: String, close: UInt16) async throws {
            logger.warning("refusing wall", metadata: ["code": "\(code)", "reason": "\(message)"])
            outContinuation.yield(SignalCodec.encode(.error(SignalError(code: code, message: message, fatal: true))))
            outContinuation.finish()
            for await text in out { try await outbound.writeTextMessage(text) }
            try await outbound.close(.init(codeNumber: Int(close)), reason: message)
        }

        let helloTimer = Task {
            try await Task.sleep(for: configuration.helloTimeout)
            try await outbound.close(.init(codeNumber: Int(SignalCloseCode.helloRequired)), reason: "no hello in time")
        }
        defer { helloTimer.cancel() }

        var limiter = RateLimiter(perSecond: configuration.maxMessagesPerSecond, burst: configuration.maxMessageBurst)
        var strikes = 0
        var messages = inbound.messages(maxSize: configuration.maxMessageBytes).makeAsyncIterator()

        // Hello first.
        guard let first = try await messages.next() else { return }
        guard case .text(let firstText) = first else {
            return try await refuse(.helloRequired, "the first message must be a text hello", close: SignalCloseCode.helloRequired)
        }
        let hello: Hello
        switch Result(catching: { () throws(SignalDecodingError) in try SignalCodec.decode(firstText) }) {
        case .success(let e):
            guard case .hello(let h) = e.message else {
                return try await refuse(.helloRequired, "the first message must be hello, not \(e.message.type)", close: SignalCloseCode.helloRequired)
            }
            hello = h
        case .failure(let error):
            if error.type == "hello" || error.code == .unknownType {
                return try await refuse(error.code, error.detail, close: error.code == .unknownType ? SignalCloseCode.helloRequired : 1008)
            }
            return try await refuse(error.code, error.detail, close: 1008)
        }
        guard hello.versions.contains(SignalProtocol.version) else {
            return try await refuse(.unsupportedVersion, "this backend speaks version \(SignalProtocol.version); hello offered \(hello.versions)",
                                    close: SignalCloseCode.unsupportedVersion)
        }
        guard configuration.wallTokens.contains(where: { $0.matches(hello.token) }) else {
            return try await refuse(.unauthorized, "bad token", close: SignalCloseCode.unauthorized)
        }
        do {
            try await store.attach(id, hello: hello, heartbeatMs: Int(configuration.heartbeat / .milliseconds(1)),
                                   maxMessageBytes: configuration.maxMessageBytes, continuation: outContinuation)
        } catch {
            return try await refuse(.unknownRoom, error.message, close: 1008)
        }
        helloTimer.cancel()
        room = hello.room
        logger[metadataKey: "room"] = .string(hello.room)
        logger[metadataKey: "wall"] = .string(hello.wallId)
        logger.info("wall attached", metadata: ["resume": "\(hello.resume != nil)"])
        let wallLogger = logger

        try await withThrowingTaskGroup(of: Void.self) { group in
            // The only writer: welcome, snapshot or missed events, live events and replies, in order.
            group.addTask {
                for await text in out { try await outbound.writeTextMessage(text) }
                if !Task.isCancelled {
                    wallLogger.warning("wall fell behind; cutting it off so it resumes")
                    try await outbound.close(.init(codeNumber: Int(SignalCloseCode.slowConsumer)), reason: "queue overflow; resume")
                }
            }
            defer { group.cancelAll() }
            while let message = try await messages.next() {
                guard limiter.allow() else {
                    strikes += 1
                    if strikes >= 10 {
                        try await outbound.close(.init(codeNumber: Int(SignalCloseCode.rateLimited)), reason: "too many messages")
                        return
                    }
                    reply(.error(SignalError(code: .rateLimited, message: "over \(configuration.maxMessagesPerSecond) messages/s; dropped")))
                    continue
                }
                guard case .text(let text) = message else {
                    reply(.error(SignalError(code: .malformed, message: "binary messages are not part of v1")))
                    continue
                }
                let envelope: SignalEnvelope
                do throws(SignalDecodingError) { envelope = try SignalCodec.decode(text) } catch {
                    logger.notice("unreadable message from wall", metadata: ["error": "\(error.detail)"])
                    reply(.error(SignalError(code: error.code, message: error.detail)))
                    continue
                }
                switch envelope.message {
                case .ping(let h): reply(.pong(h))
                case .pong: break
                case .subscribe(let s):
                    await store.record(id, room: hello.room) { $0.subscriptions = s.streams }
                case .status(let s):
                    await store.record(id, room: hello.room) { $0.status = s }
                case .layoutChanged(let l):
                    await store.record(id, room: hello.room) { $0.layout = l }
                case .error(let e):
                    logger.warning("wall reported an error", metadata: ["code": "\(e.code)", "participant": "\(e.participant?.rawValue ?? "")",
                                                                      "message": "\(e.message)"])
                    await store.record(id, room: hello.room) {
                        $0.errors.append(e)
                        if $0.errors.count > 64 { $0.errors.removeFirst() }
                    }
                case .bye(let b):
                    logger.info("wall said bye", metadata: ["reason": "\(b.reason)"])
                    return
                case .hello:
                    reply(.error(SignalError(code: .malformed, message: "hello was already received")))
                default:
                    reply(.error(SignalError(code: .unknownType, message: "\(envelope.message.type) is not accepted from walls")))
                }
            }
        }
    }
}

/// The admin API: small JSON over HTTP, every route behind `Authorization: Bearer <admin token>`.
struct AdminAPI: Sendable {
    let store: RoomStore
    let adminToken: SignalToken

    struct SpeakerBody: Decodable { var id: ParticipantID? }
    struct LayoutBody: Decodable { var preset: String; var applyAt: Int64? }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in "ok\n" }
        let rooms = router.group("rooms").add(middleware: AdminAuth(token: adminToken))
        rooms.get(":room") { _, c in try await json { try await store.view(of: c.parameters.require("room")) } }
        rooms.post(":room/participants") { req, c in
            let input = try await req.decode(as: ParticipantInput.self, context: c)
            return try await json { try await store.upsert(input, in: c.parameters.require("room")) }
        }
        rooms.put(":room/participants/:id") { req, c in
            var input = try await req.decode(as: ParticipantInput.self, context: c)
            input.id = ParticipantID(try c.parameters.require("id"))
            return try await json { try await store.upsert(input, in: c.parameters.require("room")) }
        }
        rooms.delete(":room/participants/:id") { _, c in
            try await json { try await store.remove(ParticipantID(c.parameters.require("id")), from: c.parameters.require("room")) }
        }
        rooms.post(":room/hands/:id") { _, c in
            try await json { try await store.setHand(ParticipantID(c.parameters.require("id")), raised: true, in: c.parameters.require("room")) }
        }
        rooms.delete(":room/hands/:id") { _, c in
            try await json { try await store.setHand(ParticipantID(c.parameters.require("id")), raised: false, in: c.parameters.require("room")) }
        }
        rooms.post(":room/speaker") { req, c in
            let body = try await req.decode(as: SpeakerBody.self, context: c)
            return try await json { try await store.setSpeaker(body.id, in: c.parameters.require("room")) }
        }
        rooms.post(":room/layout") { req, c in
            let body = try await req.decode(as: LayoutBody.self, context: c)
            return try await json { try await store.setLayout(preset: body.preset, applyAt: body.applyAt, in: c.parameters.require("room")) }
        }
    }

    struct Done: Encodable { var ok = true }

    private func json(_ body: () async throws -> Void) async throws -> Response {
        try await json { () async throws -> Done in try await body(); return Done() }
    }

    private func json<T: Encodable>(_ body: () async throws -> T) async throws -> Response {
        do {
            return Self.response(.ok, try await body())
        } catch let e as RoomStoreError {
            return Self.response(.init(code: e.status), ["error": e.message])
        }
    }

    static func response(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? e.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

struct AdminAuth: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: SignalToken

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer "), token.matches(String(header.dropFirst(7))) else {
            return AdminAPI.response(.unauthorized, ["error": "missing or bad admin token (Authorization: Bearer …)"])
        }
        return try await next(request, context)
    }
}
