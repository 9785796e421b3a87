import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import TesseraCore
import WSCore

public struct SignalClientConfiguration: Sendable {
    /// ws:// or wss:// URL of the backend's WebSocket endpoint. Never carries the token.
    public var url: String
    public var room: String
    public var wallID: String
    public var nodeID: String
    /// Where the token comes from; re-read at every connect.
    public var token: SignalToken.Source
    /// PEM file of the CA that signs the backend's certificate (wss only); nil uses the system roots.
    /// Certificates are always verified.
    public var caFile: String?
    public var capabilities: Capabilities
    public var urlPolicy: StreamURLPolicy
    public var rosterLimits: RosterLimits
    public var backoff: Backoff
    /// Largest message accepted from the backend; a larger one closes the connection with 1009.
    public var maxMessageBytes: Int
    /// Inbound message rate; beyond it the wall closes with 4029 and reconnects after a backoff.
    public var maxMessagesPerSecond: Double
    public var maxMessageBurst: Double
    /// At most this many `layout.set` per second are applied; more are answered `rate-limited`.
    public var maxLayoutSetsPerSecond: Double
    /// Deadline for one connection's setup: TCP connect, TLS handshake and WebSocket upgrade
    /// together. A peer that never answers, closes early or speaks another protocol ends the attempt
    /// with one log line that says which phase failed, and the wall retries after the backoff.
    public var connectTimeout: Duration
    /// How long to wait for the welcome after the upgrade.
    public var helloTimeout: Duration
    /// Heartbeat when the backend does not say; the backend's welcome overrides it.
    public var heartbeat: Duration
    /// The backend is presumed dead after this many heartbeats without any message.
    public var deadAfterHeartbeats: Int
    public var statusInterval: Duration
    /// Updates waiting in `updates` for a slow consumer before new ones are merged into the newest
    /// waiting one (nothing is lost: see `RoomUpdate.merged(with:)`).
    public var maxPendingUpdates: Int

    public init(url: String, room: String, wallID: String, nodeID: String = "node-1",
                token: SignalToken.Source, caFile: String? = nil, capabilities: Capabilities = .init(),
                urlPolicy: StreamURLPolicy = .init(), rosterLimits: RosterLimits = .init(),
                backoff: Backoff = .init(), maxMessageBytes: Int = 4 << 20, maxMessagesPerSecond: Double = 2000,
                maxMessageBurst: Double = 4000, maxLayoutSetsPerSecond: Double = 5,
                connectTimeout: Duration = .seconds(10), helloTimeout: Duration = .seconds(10), heartbeat: Duration = .seconds(10),
                deadAfterHeartbeats: Int = 3, statusInterval: Duration = .seconds(5), maxPendingUpdates: Int = 64) {
        self.url = url; self.room = room; self.wallID = wallID; self.nodeID = nodeID; self.token = token
        self.caFile = caFile; self.capabilities = capabilities; self.urlPolicy = urlPolicy
        self.rosterLimits = rosterLimits; self.backoff = backoff; self.maxMessageBytes = maxMessageBytes
        self.maxMessagesPerSecond = maxMessagesPerSecond; self.maxMessageBurst = maxMessageBurst
        self.maxLayoutSetsPerSecond = maxLayoutSetsPerSecond; self.connectTimeout = connectTimeout; self.helloTimeout = helloTimeout
        self.heartbeat = heartbeat; self.deadAfterHeartbeats = deadAfterHeartbeats; self.statusInterval = statusInterval
        self.maxPendingUpdates = maxPendingUpdates
    }
}

/// Errors that end one connection; the client logs them and reconnects.
public enum SignalClientError: Error, CustomStringConvertible {
    case invalidURL(String)
    case tls(path: String, reason: String)
    case deadPeer(silentFor: Duration)
    case sequenceGap(expected: Int, got: Int)
    case rateLimited
    case protocolViolation(String)
    /// A message (one frame or several) over `maxMessageBytes`.
    case messageTooLarge(limit: Int)
    /// An envelope whose `v` is not 1.
    case unsupportedVersion(String)

    public var description: String {
        switch self {
        case .invalidURL(let u): "signal URL must be ws:// or wss:// with a host (for wss a name the certificate carries, not an IP address) and no credentials or query: \(u)"
        case .tls(let path, let reason): "cannot use CA file \(path): \(reason)"
        case .deadPeer(let d): "no message from the backend for \(d); presuming it dead"
        case .sequenceGap(let e, let g): "event seq \(g) arrived where \(e) was expected; resuming"
        case .rateLimited: "backend sent messages faster than the configured limit"
        case .protocolViolation(let s): "protocol violation: \(s)"
        case .unsupportedVersion(let detail): "the backend sent a message this wall cannot read: \(detail); closing with 4002"
        case .messageTooLarge(let limit): "the backend sent a message over the wall's limit of \(limit) bytes (maxMessageBytes); closing with 1009"
        }
    }
}

extension SignalClientError {
    /// The `error` the wall sends before it closes, for the errors the protocol names.
    var fatalError: SignalError? {
        switch self {
        case .unsupportedVersion(let detail): SignalError(code: .unsupportedVersion, message: detail, fatal: true)
        default: nil
        }
    }
}

/// Why one connection to the backend ended; `SignalClient.disconnects` keeps the last few for
/// health displays and tests. Never carries the token.
public struct SignalDisconnect: Hashable, Sendable, CustomStringConvertible {
    /// The WebSocket close code, when the connection got as far as a close frame.
    public var closeCode: UInt16?
    /// True when the wall closed it (dead backend 4008, rate limit 4029, protocol violation 1008).
    public var byWall: Bool
    /// Why, in words: the close reason, or the error that ended the connection (a TLS refusal says
    /// which certificate check failed).
    public var reason: String

    public init(closeCode: UInt16?, byWall: Bool, reason: String) {
        self.closeCode = closeCode; self.byWall = byWall; self.reason = reason
    }

    public var description: String {
        switch (closeCode, byWall) {
        case (let code?, _): "\(byWall ? "wall" : "backend") closed with \(code): \(reason)"
        case (nil, true): "wall gave up: \(reason)"
        case (nil, false): "connection failed: \(reason)"
        }
    }
}

/// Where the wall's link to the backend stands, readable from any thread (for /healthz, /metrics
/// and the systemd watchdog) without waiting on the client.
public struct SignalLinkStatus: Hashable, Sendable {
    /// True between a `welcome` and the end of that connection.
    public var connected: Bool
    /// When `connected` last changed (the client's start while it has never connected).
    public var since: ContinuousClock.Instant
    /// How the last connection or attempt ended, with what to check; nil before any failure.
    public var lastError: String?
    /// The last time the client's own executor ran its once-a-second liveness beat: an old beat
    /// means the client is hung, whatever the link says.
    public var beat: ContinuousClock.Instant

    public init(connected: Bool, since: ContinuousClock.Instant, lastError: String?, beat: ContinuousClock.Instant) {
        self.connected = connected; self.since = since; self.lastError = lastError; self.beat = beat
    }
}

/// The wall's signaling client: keeps one WebSocket to the backend, reconnects with backoff and
/// jitter, resumes from the last seq, and publishes the room as it changes. A signaling outage
/// changes nothing in `updates`: the wall keeps showing the last room it had.
///
/// Run it in a ServiceGroup; graceful shutdown closes the socket with 1000 and ends `updates`.
public actor SignalClient: Service {
    public enum ConnectionState: Hashable, Sendable {
        case idle, connecting, connected(resumed: Bool), waiting(attempt: Int)
    }

    /// Every applied snapshot and event, in order. One consumer (the Kiosk). Bounded: when the
    /// consumer falls `maxPendingUpdates` behind, new updates are merged into the newest waiting
    /// one (its `coalesced` counts them), which keeps the latest room and the net joins, leaves and
    /// stream changes, so nothing the consumer must act on is lost.
    public nonisolated let updates: AsyncStream<RoomUpdate>
    private nonisolated let updateQueue: UpdateQueue
    /// Updates merged into another because the consumer of `updates` was behind.
    public nonisolated var updatesMerged: Int { updateQueue.merges }

    public let configuration: SignalClientConfiguration
    private let logger: Logger
    private nonisolated let linkBox: NIOLockedValueBox<SignalLinkStatus>
    /// The link now; never blocks on the client.
    public nonisolated var link: SignalLinkStatus { linkBox.withLockedValue { $0 } }
    private var tracker: RoomTracker
    /// The session to resume: one whose snapshot the wall applied (or that resumed such a one).
    /// A session whose snapshot never came is not resumable, whatever its id.
    private var sessionID: String?
    /// The session the last welcome opened, until its snapshot arrives.
    private var sessionAwaitingSnapshot: String?
    public private(set) var state: ConnectionState = .idle
    /// Connections made so far, resumed or not (for tests and health).
    public private(set) var connections = 0
    public private(set) var resumes = 0
    public private(set) var snapshotsApplied = 0
    /// Errors the backend sent (non-fatal ones included), newest last, at most 32.
    public private(set) var backendErrors: [SignalError] = []
    /// How the last connections ended, newest last, at most 16.
    public private(set) var disconnects: [SignalDisconnect] = []

    private var subscriptions: [Subscription] = []
    private var sentSubscriptions: [Subscription]?
    /// Whether this connection's room is current (resumed, or its snapshot applied): until then the
    /// wall's subscriptions describe the room before the reconnect and are not sent.
    private var roomCurrent = false
    private var health: [StreamHealth] = []
    /// The preset the wall shows (the kiosk's last report), for `status`.
    private var shownPreset: String?
    private var pendingLayoutChanged: LayoutChanged?
    private var pendingViewChanged: ViewChanged?
    /// The minor version of protocol 1 the current connection speaks (1: 1.1), from the welcome.
    public private(set) var negotiatedMinor = 0
    private var outbound: AsyncStream<String>.Continuation?
    private var lastHeard = ContinuousClock.now
    private var heartbeat: Duration
    private var welcomed = false
    private var retryAfter: Duration?
    private var inboundLimiter: RateLimiter
    /// Every `error` the wall sends: 20/s, bursts of 25 (a refused update's 20 and its summary) —
    /// under half the backend's documented 50/s, leaving room for pings, status and subscribe.
    private var errorLimiter = RateLimiter(perSecond: 20, burst: 25)
    private var unreportedRefusals: Set<ParticipantID> = []
    private var unreportedRefusalCode = SignalErrorCode.urlRefused
    private var layoutLimiter: RateLimiter

    public init(configuration: SignalClientConfiguration, logger: Logger = Logger(label: "tessera.signal.client")) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "room"] = .string(configuration.room)
        logger[metadataKey: "wall"] = .string(configuration.wallID)
        self.logger = logger
        let now = ContinuousClock.now
        linkBox = NIOLockedValueBox(SignalLinkStatus(connected: false, since: now, lastError: nil, beat: now))
        tracker = RoomTracker(policy: configuration.urlPolicy, limits: configuration.rosterLimits)
        heartbeat = configuration.heartbeat
        inboundLimiter = RateLimiter(perSecond: configuration.maxMessagesPerSecond, burst: configuration.maxMessageBurst)
        // A burst of at least one, so a limit under 1/s still lets a layout.set through now and then.
        layoutLimiter = RateLimiter(perSecond: configuration.maxLayoutSetsPerSecond, burst: max(1, configuration.maxLayoutSetsPerSecond))
        let queue = UpdateQueue(capacity: configuration.maxPendingUpdates)
        updateQueue = queue
        updates = AsyncStream(unfolding: { await queue.next() })
    }

    /// The room as last applied; kept through outages.
    public var room: Room { tracker.room }
    public var layout: LayoutSelection? { tracker.layout }
    public var lastSeq: Int { tracker.seq }

    // MARK: What the Kiosk tells the backend

    /// The tiles now visible and the height each needs. Sent now when connected and again after
    /// every reconnect; an unchanged list is not re-sent.
    public func subscribe(_ subscriptions: [Subscription]) {
        self.subscriptions = subscriptions
        flushSubscriptions()
    }

    /// Latest per-stream health; sent with the next periodic `status`.
    public func report(health: [StreamHealth]) { self.health = health }

    /// The preset the wall shows now (at start, before any change): `status` reports it.
    public func showing(preset: String) { shownPreset = preset }

    /// The wall switched preset (keyboard, file reload, or by applying `layout.set`).
    public func layoutChanged(_ change: LayoutChanged) {
        shownPreset = change.preset
        pendingLayoutChanged = change
        if send(.layoutChanged(change)) { pendingLayoutChanged = nil }
    }

    /// The wall's page, spotlight or labels changed (protocol 1.1): sent when the backend speaks
    /// 1.1, else dropped (a 1.0 backend would answer `unknown-type`). One made while disconnected
    /// goes out after the next welcome.
    public func viewChanged(_ change: ViewChanged) {
        pendingViewChanged = change
        if welcomed, negotiatedMinor >= 1, send(.viewChanged(change)) { pendingViewChanged = nil }
    }

    // MARK: Service

    public func run() async throws {
        defer { updateQueue.finish() }
        // The liveness beat runs on this actor: if the actor hangs, the beat stops and the kiosk's
        // watchdog stops being fed.
        let beater = Task { [weak self] in
            while !Task.isCancelled, let self {
                await self.beat()
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { beater.cancel() }
        try Self.validate(url: configuration.url)
        let tls = try makeTLSConfiguration()
        var attempt = 0
        var gapsInARow = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            state = .connecting
            // Graceful shutdown cancels the attempt in whatever phase it is: connecting, upgrading,
            // or connected (then the socket closes with 1000).
            let outcome = await cancelWhenGracefulShutdown { await self.connectOnce(tls: tls) }
            guard !Task.isCancelled, !Task.isShuttingDownGracefully else { break }
            let wait: Duration
            switch outcome {
            case .sequenceGap:
                // A gap resumes at once; a second in a row means the backend keeps sending them:
                // from then on the backoff, so a broken backend is not flooded with connects.
                gapsInARow += 1
                if gapsInARow == 1 {
                    wait = .zero
                    attempt = 0
                } else {
                    wait = configuration.backoff.delay(attempt: attempt)
                    attempt += 1
                }
            case .backoff(let reachedWelcome):
                gapsInARow = 0
                if reachedWelcome { attempt = 0 }
                wait = max(retryAfter ?? .zero, configuration.backoff.delay(attempt: attempt))
                attempt += 1
            }
            retryAfter = nil
            state = .waiting(attempt: attempt)
            logger.info("reconnecting", metadata: ["in_ms": "\(wait / .milliseconds(1))", "attempt": "\(attempt)"])
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            } catch { break }
        }
        state = .idle
    }

    private enum ConnectOutcome { case sequenceGap, backoff(reachedWelcome: Bool) }

    /// The configured capabilities, with the schemes the URL gate actually accepts.
    private var advertisedCapabilities: Capabilities {
        var c = configuration.capabilities
        c.schemes = configuration.urlPolicy.allowedSchemes.sorted()
        return c
    }

    private func connectOnce(tls: TLSConfiguration?) async -> ConnectOutcome {
        let token: SignalToken
        do { token = try SignalToken.load(from: configuration.token) } catch {
            logger.error("\(error)")
            return .backoff(reachedWelcome: false)
        }
        connections += 1
        welcomed = false
        negotiatedMinor = 0
        sessionAwaitingSnapshot = nil
        lastHeard = .now
        heartbeat = configuration.heartbeat
        sentSubscriptions = nil
        roomCurrent = false
        inboundLimiter = RateLimiter(perSecond: configuration.maxMessagesPerSecond, burst: configuration.maxMessageBurst)
        let (out, outContinuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        outbound = outContinuation
        let hello = Hello(wallId: configuration.wallID, nodeId: configuration.nodeID, room: configuration.room,
                          token: token.secret, capabilities: advertisedCapabilities,
                          resume: sessionID.map { ResumeRequest(sessionId: $0, lastSeq: tracker.seq) }, minor: SignalProtocol.minor)
        outContinuation.yield(SignalCodec.encode(.hello(hello)))

        let maxBytes = configuration.maxMessageBytes
        let connector: SignalConnector
        do {
            // The frame limit is the message limit: a backend may send any message whole.
            connector = try SignalConnector(url: configuration.url, tls: tls, setupTimeout: configuration.connectTimeout,
                                            maxFrameSize: maxBytes, subprotocol: SignalProtocol.subprotocol, logger: logger)
        } catch {
            logger.error("cannot set up the signaling connection: \(error)")
            return .backoff(reachedWelcome: false)
        }
        let handler: WebSocketDataHandler<SignalConnector.Context> = { inbound, outboundWriter, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // One writer per connection: a message larger than a frame goes out as several
                // frames, which must not interleave with another message's. A failed write means
                // the connection is going; the reader says how it ended (the backend's close
                // frame, when one came), so the writer drops the rest and leaves the end to it.
                // Were the writer's error first, a 1001 after `bye` read as "I/O on closed channel".
                group.addTask {
                    var failed = false
                    for await text in out where !failed {
                        do { try await outboundWriter.writeTextMessage(text) } catch { failed = true }
                    }
                }
                group.addTask { try await self.watchdog() }
                group.addTask { try await self.statusLoop() }
                group.addTask {
                    do {
                        for try await message in inbound.messages(maxSize: maxBytes) {
                            guard case .text(let text) = message else {
                                await self.sendError(SignalError(code: .malformed, message: "binary messages are not part of v1"))
                                continue
                            }
                            try await self.receive(text)
                        }
                    } catch let error where Self.isMessageTooLarge(error) {
                        throw SignalClientError.messageTooLarge(limit: maxBytes)
                    }
                }
                // The first task to end ends the connection: the reader when the backend closes or
                // sends something the wall will not take, the watchdog when the backend is silent
                // (the reader then waits for nothing, so it must not be the one that decides).
                do {
                    try await group.next()
                } catch let error as SignalClientError {
                    if let fatal = error.fatalError {
                        // Straight to the socket, ahead of the close (each wall message is one frame).
                        try? await outboundWriter.writeTextMessage(SignalCodec.encode(.error(fatal)))
                    }
                    try? await outboundWriter.close(.init(codeNumber: Int(Self.closeCode(for: error))), reason: Self.closeReason("\(error)"))
                    group.cancelAll()
                    throw error
                }
                group.cancelAll()
            }
        }
        var outcome = ConnectOutcome.backoff(reachedWelcome: false)
        do {
            let close = try await withTaskCancellationHandler {
                try await connector.run(handler: handler)
            } onCancel: { outContinuation.finish() }
            let code = close.map { WebSocketErrorCode.number($0.closeCode) }
            logger.warning("signaling connection closed", metadata: ["code": "\(code.map(String.init) ?? "none")", "reason": "\(close?.reason ?? "")"])
            record(SignalDisconnect(closeCode: code, byWall: false, reason: close?.reason ?? "closed without a close frame"))
            outcome = .backoff(reachedWelcome: welcomed)
        } catch let error as SignalClientError {
            logger.warning("\(error)")
            record(SignalDisconnect(closeCode: Self.closeCode(for: error), byWall: true, reason: error.description))
            if case .sequenceGap = error { outcome = .sequenceGap } else { outcome = .backoff(reachedWelcome: welcomed) }
        } catch let error as SignalConnectError {
            logger.warning("signaling connection failed: \(error)")
            record(SignalDisconnect(closeCode: nil, byWall: false, reason: error.description))
            outcome = .backoff(reachedWelcome: false)
        } catch {
            let reason = describeConnectionFailure(error)
            logger.warning("signaling connection failed: \(reason)")
            record(SignalDisconnect(closeCode: nil, byWall: false, reason: reason))
            outcome = .backoff(reachedWelcome: welcomed)
        }
        outContinuation.finish()
        outbound = nil
        return outcome
    }

    /// A whole frame over the limit fails in NIO's frame decoder; fragments over it in
    /// swift-websocket's reader, whose error type is internal to it (hence the name check).
    static func isMessageTooLarge(_ error: any Error) -> Bool {
        if let e = error as? NIOWebSocketError { return e == .invalidFrameLength }
        return "\(error)".contains("messageTooLarge")
    }

    /// The longest wait a `bye` can ask for before the wall reconnects.
    static let maxRetryAfter = Duration.seconds(60)

    /// How long a `bye` asks the wall to wait: its `retryAfterMs`, within 0…`maxRetryAfter`.
    static func retryDelay(for bye: Bye) -> Duration? {
        bye.retryAfterMs.map { .milliseconds(min(max(0, $0), Int(maxRetryAfter / .milliseconds(1)))) }
    }

    /// A close frame's reason is at most 123 bytes (RFC 6455 5.5: control frames carry 125).
    static func closeReason(_ text: String) -> String {
        var t = Substring(text)
        while t.utf8.count > 123 { t = t.dropLast() }
        return String(t)
    }

    static func closeCode(for error: SignalClientError) -> UInt16 {
        switch error {
        case .deadPeer: SignalCloseCode.deadPeer
        case .rateLimited: SignalCloseCode.rateLimited
        case .messageTooLarge: 1009
        case .unsupportedVersion: SignalCloseCode.unsupportedVersion
        default: 1008
        }
    }

    private func beat() { linkBox.withLockedValue { $0.beat = .now } }

    private func record(_ d: SignalDisconnect) {
        linkBox.withLockedValue { link in
            if link.connected { link.since = .now }
            link.connected = false
            link.lastError = d.description
        }
        disconnects.append(d)
        if disconnects.count > 16 { disconnects.removeFirst() }
    }

    /// A failed connect in words; a TLS refusal says what the wall checks, so a missing `caFile` or
    /// a certificate for another name is plain from the log line.
    private func describeConnectionFailure(_ error: any Error) -> String {
        guard SignalConnector.isCertificateRefusal(error) else { return "\(error)" }
        let host = URLComponents(string: configuration.url)?.host ?? "?"
        let roots = configuration.caFile.map { "the CA in \($0)" } ?? "the system's trusted roots (set caFile for a private CA)"
        return "TLS refused the backend's certificate: \(error); it must chain to \(roots) and name \(host)"
    }

    /// Closes the connection when the backend has been silent for `deadAfterHeartbeats` heartbeats
    /// (or sent no welcome within `helloTimeout`); pings it every heartbeat meanwhile.
    private func watchdog() async throws {
        while true {
            try await Task.sleep(for: welcomed ? heartbeat : .milliseconds(250))
            let silent = ContinuousClock.now - lastHeard
            if !welcomed {
                if silent > configuration.helloTimeout { throw SignalClientError.deadPeer(silentFor: silent) }
                continue
            }
            if silent > heartbeat * configuration.deadAfterHeartbeats { throw SignalClientError.deadPeer(silentFor: silent) }
            send(.ping(Heartbeat(t: Self.epochMillis())))
        }
    }

    private func statusLoop() async throws {
        while true {
            try await Task.sleep(for: configuration.statusInterval)
            guard welcomed else { continue }
            // The streams of participants still in the room as of `seq`: the kiosk's figures may
            // still list one who just left (its stream closes after a grace period).
            let room = tracker.room
            let streams = health.filter { room[$0.participant] != nil }
            send(.status(WallStatus(seq: tracker.seq, preset: shownPreset ?? tracker.layout?.preset, streams: streams)))
            flushSubscriptions()
            reportUnreportedRefusals()
        }
    }

    // MARK: Receiving

    private func receive(_ text: String) throws {
        lastHeard = .now
        guard inboundLimiter.allow() else { throw SignalClientError.rateLimited }
        let envelope: SignalEnvelope
        do throws(SignalDecodingError) { envelope = try SignalCodec.decode(text, from: .backend) } catch {
            if error.code == .unsupportedVersion { throw SignalClientError.unsupportedVersion(error.detail) }
            logger.warning("unreadable message from backend", metadata: ["error": "\(error.detail)"])
            sendError(SignalError(code: error.code, message: error.detail))
            return
        }
        let message = envelope.message
        if !welcomed {
            switch message {
            case .welcome, .error, .bye, .ping, .pong: break
            default: throw SignalClientError.protocolViolation("\(message.type) before welcome")
            }
        }
        switch message {
        case .welcome(let w):
            guard SignalProtocol.supportedVersions.contains(w.version) else {
                throw SignalClientError.protocolViolation("backend chose version \(w.version)")
            }
            welcomed = true
            linkBox.withLockedValue { link in
                if !link.connected { link.since = .now }
                link.connected = true
            }
            if w.heartbeatMs > 0 { heartbeat = .milliseconds(max(100, w.heartbeatMs)) }
            if w.resumed { resumes += 1 }
            if w.resumed, sessionID != nil {
                sessionID = w.sessionId
            } else {
                sessionID = nil
                sessionAwaitingSnapshot = w.sessionId
            }
            state = .connected(resumed: w.resumed)
            logger.info("signaling connected", metadata: ["resumed": "\(w.resumed)", "seq": "\(tracker.seq)"])
            // Resumed: the room is the one the subscriptions were made for. Else they wait for the
            // snapshot (and for the kiosk's answer to it, or the next status tick).
            roomCurrent = w.resumed
            flushSubscriptions()
            negotiatedMinor = max(0, min(w.minor ?? 0, SignalProtocol.minor))
            if let pending = pendingLayoutChanged, send(.layoutChanged(pending)) { pendingLayoutChanged = nil }
            if negotiatedMinor >= 1, let pending = pendingViewChanged, send(.viewChanged(pending)) { pendingViewChanged = nil }
        case .snapshot(let s):
            let update = tracker.apply(snapshot: s, seq: envelope.seq ?? 0)
            snapshotsApplied += 1
            if let session = sessionAwaitingSnapshot {
                sessionID = session
                sessionAwaitingSnapshot = nil
            }
            roomCurrent = true
            publish(update)
            // The kiosk answers the new room with its subscriptions within milliseconds; when they
            // did not change it says nothing, and what the wall has goes out shortly after.
            let connection = connections
            Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(250))
                await self?.flushSubscriptions(ifConnection: connection)
            }
        case _ where message.isRoomEvent:
            guard let seq = envelope.seq else {
                sendError(SignalError(code: .malformed, message: "\(message.type) without seq"))
                return
            }
            var event = message
            if case .layoutSet(let l) = message, !layoutLimiter.allow() {
                logger.warning("layout.set over the rate limit; ignored", metadata: ["preset": "\(l.preset)", "rev": "\(l.rev)"])
                sendError(SignalError(code: .rateLimited, message: "layout.set rev \(l.rev) ignored: over \(configuration.maxLayoutSetsPerSecond)/s"))
                event = .layoutSet(LayoutSelection(preset: l.preset, rev: Int.min))  // advances seq, changes nothing
            }
            switch tracker.apply(event: event, seq: seq) {
            case .applied(let update): publish(update)
            case .duplicate: break
            case .gap(let expected, let got): throw SignalClientError.sequenceGap(expected: expected, got: got)
            }
        case .viewSet(let v):
            publish(tracker.update(for: v))
        case .ping(let h):
            send(.pong(h))
        case .pong:
            break
        case .error(let e):
            backendErrors.append(e)
            if backendErrors.count > 32 { backendErrors.removeFirst() }
            if e.fatal {
                logger.error("backend refused the wall", metadata: ["code": "\(e.code)", "message": "\(e.message)"])
            } else {
                logger.warning("backend reported an error", metadata: ["code": "\(e.code)", "message": "\(e.message)"])
            }
        case .bye(let b):
            retryAfter = Self.retryDelay(for: b)
            logger.info("backend said bye", metadata: ["reason": "\(b.reason)", "retry_after_ms": "\(retryAfter.map { $0 / .milliseconds(1) } ?? 0)"])
        default:
            sendError(SignalError(code: .unknownType, message: "\(message.type) is not sent to walls"))
        }
    }

    private func publish(_ update: RoomUpdate) {
        report(update.refusals)
        updateQueue.push(update)
    }

    /// Refusals go to the backend one `error` each for the first `maxRefusalErrorsPerUpdate` of an
    /// update, then as one summary; and all errors within `errorLimiter`, so that a roster of
    /// thousands the wall refuses stays far under the backend's own limit (50 messages/s). What the
    /// limiter holds back is counted into the next summary (at the latest with the next status).
    private func report(_ refusals: [RosterRefusal]) {
        var sent = 0
        for r in refusals {
            if sent < Self.maxRefusalErrorsPerUpdate, errorLimiter.allow() {
                logger.warning("roster entry refused", metadata: ["participant": "\(r.participant)", "reason": "\(r.reason)"])
                send(.error(SignalError(code: r.code, message: r.reason, participant: r.participant)))
                sent += 1
            } else {
                unreportedRefusals.insert(r.participant)
                if r.code != .urlRefused { unreportedRefusalCode = .rosterRefused }
            }
        }
        reportUnreportedRefusals()
    }

    private func reportUnreportedRefusals() {
        guard !unreportedRefusals.isEmpty, outbound != nil, errorLimiter.allow() else { return }
        let n = unreportedRefusals.count
        logger.warning("roster entries refused, not reported one by one", metadata: ["participants": "\(n)"])
        send(.error(SignalError(code: unreportedRefusalCode, message: "… and \(n) more participants refused")))
        unreportedRefusals = []
        unreportedRefusalCode = .urlRefused
    }

    // MARK: Sending

    /// At most this many refusal `error`s per room update; the rest go as one summary.
    static let maxRefusalErrorsPerUpdate = 20

    /// An `error` to the backend, within `errorLimiter` (over it, logged and dropped).
    private func sendError(_ e: SignalError) {
        guard errorLimiter.allow() else {
            logger.notice("error not sent to the backend: over the wall's error rate", metadata: ["code": "\(e.code)", "message": "\(e.message)"])
            return
        }
        send(.error(e))
    }

    @discardableResult
    private func send(_ message: SignalMessage) -> Bool {
        guard let outbound else { return false }
        let text = SignalCodec.encode(message)
        if case .enqueued = outbound.yield(text) { return true }
        return false
    }

    private func flushSubscriptions(ifConnection n: Int) {
        if connections == n { flushSubscriptions() }
    }

    private func flushSubscriptions() {
        guard welcomed, roomCurrent, sentSubscriptions != subscriptions else { return }
        if send(.subscribe(SubscribeRequest(streams: subscriptions))) { sentSubscriptions = subscriptions }
    }

    // MARK: Setup

    static func validate(url: String) throws(SignalClientError) {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), scheme == "ws" || scheme == "wss",
              let host = c.host, !host.isEmpty, c.user == nil, c.password == nil, c.query == nil
        else { throw .invalidURL(url) }
        // TLS needs a name to check the certificate against (and to send as SNI): the WebSocket
        // client cannot verify a certificate for an IP address.
        if scheme == "wss", host.contains(":") || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) {
            throw .invalidURL(url)
        }
    }

    private func makeTLSConfiguration() throws -> TLSConfiguration? {
        guard configuration.url.lowercased().hasPrefix("wss:") else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let path = configuration.caFile {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            } catch {
                throw SignalClientError.tls(path: path, reason: "\(error)")
            }
        }
        return tls
    }

    static func epochMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

extension WebSocketErrorCode {
    static func number(_ code: WebSocketErrorCode) -> UInt16 {
        switch code {
        case .normalClosure: 1000
        case .goingAway: 1001
        case .protocolError: 1002
        case .unacceptableData: 1003
        case .dataInconsistentWithMessage: 1007
        case .policyViolation: 1008
        case .messageTooLarge: 1009
        case .missingExtension: 1010
        case .unexpectedServerError: 1011
        case .unknown(let n): n
        }
    }
}
