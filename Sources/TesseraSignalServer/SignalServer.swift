import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import TesseraCore
import TesseraSignal

public struct SignalServerConfiguration: Sendable {
    /// PEM files for serving wss/https directly (else plain ws/http, for a TLS proxy in front).
    public struct TLSFiles: Hashable, Sendable {
        /// The server certificate, then any intermediates.
        public var certificateChain: String
        public var privateKey: String
        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain; self.privateKey = privateKey
        }

        func serverConfiguration() throws -> TLSConfiguration {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateChain)
            guard !chain.isEmpty else { throw SignalServerError.tls("no certificate in \(certificateChain)") }
            let key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        }
    }

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
    /// Per wall: messages per second (and burst) before `rate-limited`; ten refusals, each within
    /// `rateStrikeWindow` of the one before, close with 4029.
    public var maxMessagesPerSecond: Double
    public var maxMessageBurst: Double
    /// A wall with no refused message for this long starts its count of ten again.
    public var rateStrikeWindow: Duration = .seconds(60)
    /// A wall must say hello within this time, else the connection closes with 4003.
    public var helloTimeout: Duration
    /// Events queued for one wall before it is cut off (it resumes from the ring).
    public var maxQueuedPerWall: Int
    /// Serve TLS with these files; nil serves plain ws/http.
    public var tls: TLSFiles?
    /// A connection must have its first request answered (WebSocket upgrade or admin call) within
    /// this time, else it is closed: idle and half-sent connections do not pile up.
    public var upgradeTimeout: Duration
    /// Connections open at once; over it a new connection is closed at once, with a log line.
    /// nil: 1,024, and never within 64 of the process's open-file limit.
    public var maxConnections: Int?
    /// An admin (plain HTTP) connection idle this long after a response is closed.
    public var httpIdleTimeout: Duration
    /// On shutdown, the walls get this long to be sent their `bye` and close frame, and from then
    /// on this long to answer; then every connection still open is closed.
    public var shutdownGrace: Duration
    /// On shutdown every wall gets `bye` with this as `retryAfterMs`, then a close with 1001.
    public var byeRetryAfter: Duration

    public init(host: String = "127.0.0.1", port: Int = 0, wallTokens: [SignalToken], adminToken: SignalToken,
                heartbeat: Duration = .seconds(10), maxMessageBytes: Int = 256 << 10, maxMessagesPerSecond: Double = 50,
                maxMessageBurst: Double = 100, helloTimeout: Duration = .seconds(10), maxQueuedPerWall: Int = 8192,
                tls: TLSFiles? = nil, upgradeTimeout: Duration = .seconds(5), maxConnections: Int? = nil,
                httpIdleTimeout: Duration = .seconds(30), shutdownGrace: Duration = .seconds(2),
                byeRetryAfter: Duration = .seconds(5)) {
        self.host = host; self.port = port; self.wallTokens = wallTokens; self.adminToken = adminToken
        self.heartbeat = heartbeat; self.maxMessageBytes = maxMessageBytes; self.maxMessagesPerSecond = maxMessagesPerSecond
        self.maxMessageBurst = maxMessageBurst; self.helloTimeout = helloTimeout; self.maxQueuedPerWall = maxQueuedPerWall
        self.tls = tls; self.upgradeTimeout = upgradeTimeout; self.maxConnections = maxConnections
        self.httpIdleTimeout = httpIdleTimeout; self.shutdownGrace = shutdownGrace; self.byeRetryAfter = byeRetryAfter
    }
}

public enum SignalServerError: Error, CustomStringConvertible {
    case tls(String)
    public var description: String {
        switch self {
        case .tls(let s): "cannot set up TLS: \(s)"
        }
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
        let shutdown = ShutdownState()
        let handler = WallConnectionHandler(configuration: configuration, store: store, shutdown: shutdown, logger: logger)
        wsRouter.ws(RouterPath(stringLiteral: SignalProtocol.webSocketPath)) { request, _ in
            let offered = request.headers[values: HTTPField.Name("Sec-WebSocket-Protocol")!]
                .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if offered.isEmpty { return .upgrade([:]) }
            guard offered.contains(SignalProtocol.subprotocol) else { return .dontUpgrade }
            return .upgrade([HTTPField.Name("Sec-WebSocket-Protocol")!: SignalProtocol.subprotocol])
        } onUpgrade: { inbound, outbound, context in
            try await handler.handle(inbound: inbound, outbound: outbound, logger: context.logger)
        }

        // The frame limit is the message limit: a wall may send any message whole.
        let ws = WebSocketServerConfiguration(maxFrameSize: min(configuration.maxMessageBytes, Int(UInt32.max)), autoPing: .enabled(timePeriod: configuration.heartbeat * 3),
                                              closeTimeout: .seconds(5))
        let onListening = self.onListening
        let logger = self.logger
        var tls: TLSConfiguration?
        if let files = configuration.tls {
            do { tls = try files.serverConfiguration() } catch let e as SignalServerError { throw e } catch {
                throw SignalServerError.tls("\(files.certificateChain), \(files.privateKey): \(error)")
            }
        }
        let registry = ConnectionRegistry(limit: configuration.maxConnections ?? ConnectionRegistry.defaultLimit(),
                                          deadline: configuration.upgradeTimeout, logger: logger)
        let wsResponder = wsRouter.buildResponder()
        let http1 = HTTP1Channel.Configuration(idleTimeout: .init(configuration.httpIdleTimeout))
        let server = HTTPServerBuilder { [tls] responder in
            let base = GuardedChannel(base: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: wsResponder,
                                                                          configuration: .init(http1: http1, ws: ws)),
                                      registry: registry)
            if let tls { return try TLSChannel(base, tlsConfiguration: tls) }
            return base
        }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("signaling backend listening", metadata: ["address": "\(configuration.host):\(port)"])
                await onListening(port)
            },
            logger: logger)
        let grace = configuration.shutdownGrace
        let bye = Bye(reason: "backend shutting down", retryAfterMs: Int(configuration.byeRetryAfter / .milliseconds(1)))
        let store = self.store
        // The app runs outside this service's graceful shutdown (a detached task does not inherit
        // it): were it inside, every WebSocket would be closed with 1000 at once, before the walls
        // hear `bye`. This service shuts it down itself, after the byes.
        let appGroup = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let running = Task.detached { try await appGroup.run() }
        do {
            // Shutdown (SIGTERM): every wall gets `bye` and a close with 1001; every connection,
            // idle or half-sent ones too, is closed after a grace for close frames: none of them
            // can keep the process alive.
            try await withGracefulShutdownHandler {
                try await withTaskCancellationHandler { try await running.value } onCancel: { running.cancel() }
            } onGracefulShutdown: {
                shutdown.begin()
                registry.refuseNew()
                // The grace is the walls' time to answer: it starts once their byes and close frames
                // are written. Counted from the signal, it shrank by however late this process's own
                // tasks ran, and a busy backend cut walls off before they heard `bye`.
                Task {
                    await store.sayBye(bye)
                    await shutdown.wallsWritten(within: grace)
                    registry.closeAll(after: grace)
                    await shutdown.wallsClosed(within: grace)
                    await appGroup.triggerGracefulShutdown()
                }
            }
        } catch {
            await store.detachAll()
            throw error
        }
        await store.detachAll()
    }
}

/// Whether the server is shutting down, which walls are connected, and which of those have written
/// everything they will (on shutdown: their `bye` and close frame).
final class ShutdownState: Sendable {
    private struct State {
        var shuttingDown = false
        var open: Set<UUID> = []
        var written: Set<UUID> = []
    }
    private let state = NIOLockedValueBox(State())
    var shuttingDown: Bool { state.withLockedValue { $0.shuttingDown } }
    func begin() { state.withLockedValue { $0.shuttingDown = true } }
    func wallOpened(_ id: UUID) { state.withLockedValue { _ = $0.open.insert(id) } }
    func wallClosed(_ id: UUID) {
        state.withLockedValue { s in
            s.open.remove(id)
            s.written.remove(id)
        }
    }
    /// The wall's writer has ended: its last frame is out (or the connection is gone).
    func wallWritten(_ id: UUID) {
        state.withLockedValue { s in
            if s.open.contains(id) { s.written.insert(id) }
        }
    }

    /// Returns when every connected wall's writer has ended, or after `bound`.
    func wallsWritten(within bound: Duration) async {
        await wait(within: bound) { $0.open.isSubset(of: $0.written) }
    }

    /// Returns when no wall is connected, or after `grace`.
    func wallsClosed(within grace: Duration) async {
        await wait(within: grace) { $0.open.isEmpty }
    }

    private func wait(within bound: Duration, until done: (State) -> Bool) async {
        let deadline = ContinuousClock.now + bound
        while !state.withLockedValue({ done($0) }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

extension SignalServer {
    /// The longest `wallId`/`nodeId`, `token` and `resume.sessionId` a `hello` may carry (bytes of UTF-8).
    static let maxHelloIDBytes = 128, maxTokenBytes = 4096, maxSessionIDBytes = 256

    /// What is wrong with a decoded `hello`'s strings, or nil: each has a length bound of its own,
    /// not only the message's 256 KiB.
    static func helloProblem(_ h: Hello) -> String? {
        if h.wallId.isEmpty || h.wallId.utf8.count > maxHelloIDBytes { return "hello.wallId must be 1–\(maxHelloIDBytes) bytes" }
        if h.nodeId.isEmpty || h.nodeId.utf8.count > maxHelloIDBytes { return "hello.nodeId must be 1–\(maxHelloIDBytes) bytes" }
        if h.token.utf8.count > maxTokenBytes { return "hello.token must be at most \(maxTokenBytes) bytes" }
        if let r = h.resume, r.sessionId.utf8.count > maxSessionIDBytes { return "hello.resume.sessionId must be at most \(maxSessionIDBytes) bytes" }
        return nil
    }
}

/// One wall's WebSocket: hello and auth, then the room's events out and the wall's reports in.
struct WallConnectionHandler: Sendable {
    let configuration: SignalServerConfiguration
    let store: RoomStore
    let shutdown: ShutdownState
    let logger: Logger

    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async throws {
        let id = UUID()
        shutdown.wallOpened(id)
        defer { shutdown.wallClosed(id) }
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
        // Messages dropped over the rate: the tenth, each within `rateStrikeWindow` of the one
        // before, closes (4029); a window without one starts the count again.
        var strikes = 0
        var lastStrike = ContinuousClock.now
        var messages = inbound.messages(maxSize: configuration.maxMessageBytes).makeAsyncIterator()

        // Hello first.
        guard let first = try await messages.next() else { return }
        guard case .text(let firstText) = first else {
            return try await refuse(.helloRequired, "the first message must be a text hello", close: SignalCloseCode.helloRequired)
        }
        let hello: Hello
        switch Result(catching: { () throws(SignalDecodingError) in try SignalCodec.decode(firstText, from: .wall) }) {
        case .success(let e):
            guard case .hello(let h) = e.message else {
                return try await refuse(.helloRequired, "the first message must be hello, not \(e.message.type)", close: SignalCloseCode.helloRequired)
            }
            hello = h
        case .failure(let error):
            let close: UInt16 = switch error.code {
            case .unsupportedVersion: SignalCloseCode.unsupportedVersion
            case .unknownType: SignalCloseCode.helloRequired
            default: 1008
            }
            return try await refuse(error.code, error.detail, close: close)
        }
        if let problem = SignalServer.helloProblem(hello) {
            return try await refuse(.malformed, problem, close: 1008)
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
                                   maxMessageBytes: configuration.maxMessageBytes, queueCapacity: configuration.maxQueuedPerWall,
                                   continuation: outContinuation)
        } catch {
            return try await refuse(.unknownRoom, error.message, close: 1008)
        }
        helloTimer.cancel()
        room = hello.room
        logger[metadataKey: "room"] = .string(hello.room)
        logger[metadataKey: "wall"] = .string(hello.wallId)
        logger.info("wall attached", metadata: ["resume": "\(hello.resume != nil)"])
        let wallLogger = logger
        let closing = CloseIntent()
        let shutdown = self.shutdown

        try await withThrowingTaskGroup(of: Void.self) { group in
            // The only writer: welcome, snapshot or missed events, live events and replies, in order.
            // When the queue ends it closes: with the code the reader chose after the queued replies
            // (4029), or else the store ended it because the wall fell behind (4013).
            group.addTask {
                defer { shutdown.wallWritten(id) }
                for await text in out { try await outbound.writeTextMessage(text) }
                guard !Task.isCancelled else { return }
                if let (code, reason) = closing.value {
                    try await outbound.close(.init(codeNumber: Int(code)), reason: reason)
                } else if shutdown.shuttingDown {
                    try await outbound.close(.goingAway, reason: "backend shutting down")
                } else {
                    wallLogger.warning("wall fell behind; cutting it off so it resumes")
                    try await outbound.close(.init(codeNumber: Int(SignalCloseCode.slowConsumer)), reason: "queue overflow; resume")
                }
            }
            defer { group.cancelAll() }
            while let message = try await messages.next() {
                guard limiter.allow() else {
                    if ContinuousClock.now - lastStrike > configuration.rateStrikeWindow { strikes = 0 }
                    lastStrike = .now
                    strikes += 1
                    if strikes >= 10 {
                        // The replies already queued (pongs, the nine `rate-limited` errors) go out first.
                        logger.warning("wall over its message rate; closing")
                        closing.set(SignalCloseCode.rateLimited, "too many messages")
                        outContinuation.finish()
                        try await group.waitForAll()
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
                do throws(SignalDecodingError) { envelope = try SignalCodec.decode(text, from: .wall) } catch {
                    if error.code == .unsupportedVersion {
                        // Not a message this backend can read at all: fatal, as for the hello.
                        logger.warning("wall sent an unsupported envelope version; closing", metadata: ["error": "\(error.detail)"])
                        reply(.error(SignalError(code: error.code, message: error.detail, fatal: true)))
                        closing.set(SignalCloseCode.unsupportedVersion, error.detail)
                        outContinuation.finish()
                        try await group.waitForAll()
                        return
                    }
                    logger.notice("unreadable message from wall", metadata: ["error": "\(error.detail)"])
                    reply(.error(SignalError(code: error.code, message: error.detail)))
                    continue
                }
                if case .error(let e) = envelope.message {
                    logger.warning("wall reported an error", metadata: ["code": "\(e.code)", "participant": "\(e.participant?.rawValue ?? "")",
                                                                      "message": "\(e.message)"])
                }
                switch await store.receive(envelope.message, from: id, room: hello.room) {
                case .none: break
                case .reply(let m): reply(m)
                case .bye(let reason):
                    logger.info("wall said bye", metadata: ["reason": "\(reason)"])
                    return
                }
            }
        }
    }
}

/// How the connection's writer should close once its queue ends; unset means the store ended it.
final class CloseIntent: Sendable {
    private let intent = Mutex<(UInt16, String)?>(nil)
    var value: (UInt16, String)? { intent.withLock { $0 } }
    func set(_ code: UInt16, _ reason: String) { intent.withLock { $0 = (code, reason) } }
}

/// The admin API: small JSON over HTTP, every route behind `Authorization: Bearer <admin token>`.
struct AdminAPI: Sendable {
    let store: RoomStore
    let adminToken: SignalToken

    struct SpeakerBody: Decodable { var id: ParticipantID? }
    struct LayoutBody: Decodable { var preset: String; var applyAt: Int64? }
    /// `{"page":2,"spotlight":"p1","labels":false}`, every field optional; `"spotlight":null` clears.
    struct ViewBody: Decodable {
        var page: Int?
        var spotlight: ParticipantID??
        var labels: Bool?
        private enum Keys: String, CodingKey { case page, spotlight, labels }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            page = try c.decodeIfPresent(Int.self, forKey: .page)
            spotlight = c.contains(.spotlight) ? .some(try c.decodeNil(forKey: .spotlight) ? nil : try c.decode(ParticipantID.self, forKey: .spotlight)) : nil
            labels = try c.decodeIfPresent(Bool.self, forKey: .labels)
        }
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in "ok\n" }
        let rooms = router.group("rooms").add(middleware: AdminAuth(token: adminToken))
        rooms.get(":room") { _, c in try await json { try await store.view(of: Self.path(c, "room")) } }
        rooms.post(":room/participants") { req, c in
            try await json {
                let input = try await Self.decode(ParticipantInput.self, from: req, context: c)
                return try await store.upsert(input, in: Self.path(c, "room"))
            }
        }
        rooms.put(":room/participants/:id") { req, c in
            try await json {
                var input = try await Self.decode(PathParticipantInput.self, from: req, context: c).input
                input.id = ParticipantID(try Self.path(c, "id"))
                return try await store.upsert(input, in: Self.path(c, "room"))
            }
        }
        rooms.delete(":room/participants/:id") { _, c in
            try await json { try await store.remove(ParticipantID(Self.path(c, "id")), from: Self.path(c, "room")) }
        }
        rooms.post(":room/hands/:id") { _, c in
            try await json { try await store.setHand(ParticipantID(Self.path(c, "id")), raised: true, in: Self.path(c, "room")) }
        }
        rooms.delete(":room/hands/:id") { _, c in
            try await json { try await store.setHand(ParticipantID(Self.path(c, "id")), raised: false, in: Self.path(c, "room")) }
        }
        rooms.post(":room/speaker") { req, c in
            try await json {
                let body = try await Self.decode(SpeakerBody.self, from: req, context: c)
                try await store.setSpeaker(body.id, in: Self.path(c, "room"))
            }
        }
        rooms.post(":room/view") { req, c in
            try await json {
                let body = try await Self.decode(ViewBody.self, from: req, context: c)
                return try await store.setView(page: body.page, spotlight: body.spotlight, labels: body.labels, in: Self.path(c, "room"))
            }
        }
        rooms.post(":room/layout") { req, c in
            try await json {
                let body = try await Self.decode(LayoutBody.self, from: req, context: c)
                return try await store.setLayout(preset: body.preset, applyAt: body.applyAt, in: Self.path(c, "room"))
            }
        }
    }

    /// A path parameter, percent-decoded (`a%20b` is `a b`, `a%2Fb` is `a/b`); invalid encoding is a 400.
    static func path(_ c: BasicRequestContext, _ name: String) throws -> String {
        let raw = try c.parameters.require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw RoomStoreError(status: 400, message: "\(name) in the path is not valid percent-encoding: \(raw)")
        }
        return decoded
    }

    /// The PUT body: a participant whose `id` comes from the path (one in the body is ignored).
    struct PathParticipantInput: Decodable {
        var input: ParticipantInput
        private enum Keys: String, CodingKey { case name, role, sharesScreen, streams }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            input = ParticipantInput(id: "", name: try c.decodeIfPresent(String.self, forKey: .name),
                                     role: try c.decodeIfPresent(Role.self, forKey: .role),
                                     sharesScreen: try c.decodeIfPresent(Bool.self, forKey: .sharesScreen),
                                     streams: try c.decodeIfPresent([ParticipantStream].self, forKey: .streams))
        }
    }

    /// Decodes a JSON body; anything unreadable (not JSON, wrong types, missing fields, too large)
    /// is a `RoomStoreError` with Hummingbird's status (400, or 413) and a message saying why.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: BasicRequestContext) async throws -> T {
        do {
            return try await request.decode(as: type, context: context)
        } catch let e as HTTPError {
            throw RoomStoreError(status: Int(e.status.code), message: "bad request body: \(e.body ?? "\(e.status.reasonPhrase)")")
        } catch let e as DecodingError {
            throw RoomStoreError(status: 400, message: "bad request body: \(e)")
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
