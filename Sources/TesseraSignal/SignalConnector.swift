import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// The part of a connection attempt that was under way when it failed.
public enum SignalConnectPhase: String, Hashable, Sendable {
    case connect = "TCP connect"
    case tls = "TLS handshake"
    case upgrade = "WebSocket upgrade"
}

/// A connection attempt that never reached a WebSocket: which phase, what happened, and what to
/// check. One of these is one log line and one `SignalDisconnect`.
public struct SignalConnectError: Error, Hashable, Sendable, CustomStringConvertible {
    public var phase: SignalConnectPhase
    /// The backend URL (`SignalClient.validate` refuses credentials and queries, so it holds no secret).
    public var url: String
    public var reason: String
    public var hint: String

    public var description: String { "\(phase.rawValue) to \(url) failed: \(reason); \(hint)" }
}

/// Opens the wall's WebSocket to the backend with a deadline over the whole setup (TCP connect, TLS
/// handshake, HTTP upgrade): the channel is closed when the deadline passes, when the task is
/// cancelled, or when the peer closes its side, so every stuck state ends in a `SignalConnectError`.
/// Once upgraded, the socket is served by swift-websocket's frame handler (ping, close, fragments).
struct SignalConnector: Sendable {
    struct Target: Sendable {
        var host: String
        var port: Int
        var path: String
        var tls: Bool
        var hostHeader: String
        var origin: String
    }

    struct Context: WebSocketContext { let logger: Logger }

    let url: String
    let target: Target
    let sslContext: NIOSSLContext?
    let setupTimeout: Duration
    let maxFrameSize: Int
    let subprotocol: String
    let logger: Logger

    init(url: String, tls: TLSConfiguration?, setupTimeout: Duration, maxFrameSize: Int, subprotocol: String, logger: Logger) throws {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), let host = c.host, !host.isEmpty else {
            throw SignalClientError.invalidURL(url)
        }
        let secure = scheme == "wss"
        let port = c.port ?? (secure ? 443 : 80)
        guard (1...65535).contains(port) else { throw SignalClientError.invalidURL(url) }
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let path = c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath
        target = Target(host: host, port: port, path: path, tls: secure,
                        hostHeader: c.port == nil ? bracketed : "\(bracketed):\(port)",
                        origin: "\(secure ? "https" : "http")://\(bracketed)")
        self.url = url
        sslContext = try (secure ? tls : nil).map { try NIOSSLContext(configuration: $0) }
        self.setupTimeout = setupTimeout
        self.maxFrameSize = min(maxFrameSize, Int(UInt32.max))
        self.subprotocol = subprotocol
        self.logger = logger
    }

    enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case notUpgraded
    }

    /// Connects, upgrades, and runs `handler` on the WebSocket; returns the close frame the backend
    /// sent, if any. Throws `SignalConnectError` for any failure before the upgrade completed.
    func run(handler: @escaping WebSocketDataHandler<Context>) async throws -> WebSocketCloseFrame? {
        let attempt = Attempt(tls: target.tls)
        let upgraded: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>
        do {
            let result = try await withTaskCancellationHandler {
                let future = try await bootstrap(attempt).connect(host: target.host, port: target.port) { channel in
                    self.setUp(channel, attempt: attempt)
                }
                return try await future.get()
            } onCancel: {
                attempt.cancel()
            }
            guard case .websocket(let channel) = result else {
                throw failure(.upgrade, "the backend answered the upgrade request without upgrading",
                              "is \(target.path) its WebSocket path, and does it speak \(subprotocol)?")
            }
            attempt.upgraded()
            upgraded = channel
        } catch let error as SignalConnectError {
            throw error
        } catch let error where Self.isCertificateRefusal(error) {
            throw error  // the client says which certificate check failed
        } catch {
            throw explain(error, attempt: attempt)
        }
        return try await withTaskCancellationHandler {
            try await WebSocketHandler.handle(
                type: .client,
                configuration: .init(extensions: [], autoPing: .disabled, closeTimeout: .seconds(2), validateUTF8: true,
                                     ignoreUncleanSSLShutdownErrors: true, maxFrameSize: maxFrameSize),
                asyncChannel: upgraded, context: Context(logger: logger), handler: handler)
        } onCancel: {
            // Room for the close handshake (1000), then the socket goes regardless.
            attempt.closeAfter(.seconds(3))
        }
    }

    /// Whether a TLS error is the wall refusing the backend's certificate (chain or name), as
    /// opposed to the handshake failing otherwise (the peer closed, spoke something else).
    static func isCertificateRefusal(_ error: any Error) -> Bool {
        if error is NIOSSLExtraError { return true }
        guard error is NIOSSLError || error is BoringSSLError else { return false }
        return "\(error)".contains("CERTIFICATE")
    }

    /// Whether a TLS error is the peer's end of input during the handshake.
    static func isTLSEndOfInput(_ error: any Error) -> Bool {
        if case .uncleanShutdown? = error as? NIOSSLError { return true }
        return (error is NIOSSLError || error is BoringSSLError) && "\(error)".contains("EOF")
    }

    private func bootstrap(_ attempt: Attempt) -> ClientBootstrap {
        let millis = max(1, Int64(setupTimeout / .milliseconds(1)))
        return ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(millis))
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    }

    private func setUp(_ channel: any Channel, attempt: Attempt) -> EventLoopFuture<EventLoopFuture<Upgrade>> {
        channel.eventLoop.makeCompletedFuture {
            try attempt.attach(channel, deadline: setupTimeout)
            let sync = channel.pipeline.syncOperations
            if let sslContext {
                try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: target.host))
            }
            try sync.addHandler(PhaseHandler(attempt: attempt))
            // No automatic error handling: a frame over the limit reaches the client's reader as an
            // error, so the wall closes with 1009 itself and can say why.
            let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: maxFrameSize, enableAutomaticErrorHandling: false) { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    .websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                }
            }
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: target.hostHeader)
            headers.add(name: "Origin", value: target.origin)
            headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol)
            let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
            var config = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: .init(
                upgradeRequestHead: request, upgraders: [upgrader],
                notUpgradingCompletionHandler: { $0.eventLoop.makeSucceededFuture(.notUpgraded) }))
            config.leftOverBytesStrategy = .forwardBytes
            return try sync.configureUpgradableHTTPClientPipeline(configuration: config)
        }
    }

    private func failure(_ phase: SignalConnectPhase, _ reason: String, _ hint: String) -> SignalConnectError {
        SignalConnectError(phase: phase, url: url, reason: reason, hint: hint)
    }

    /// The error in words, by the phase the attempt was in.
    private func explain(_ error: any Error, attempt: Attempt) -> SignalConnectError {
        let (phase, timedOut, peerClosed) = attempt.outcome
        let seconds = "\(setupTimeout)"
        if timedOut {
            switch phase {
            case .connect:
                return failure(.connect, "no answer within \(seconds)", "is the host up and the port right, or does a firewall drop the packets?")
            case .tls:
                return failure(.tls, "no TLS answer within \(seconds)", "is the backend plain WebSocket (use ws://)?")
            case .upgrade:
                return failure(.upgrade, "no answer to the WebSocket upgrade within \(seconds)",
                               "is it TLS (use wss://), and is \(target.path) a WebSocket endpoint?")
            }
        }
        if case .connectTimeout = error as? ChannelError {
            return failure(.connect, "no answer within \(seconds)", "is the host up and the port right, or does a firewall drop the packets?")
        }
        if error is HTTPParserError {
            return failure(.upgrade, "the backend's answer is not HTTP (\(error))", "is it TLS (use wss://)?")
        }
        switch phase {
        case .connect:
            return failure(.connect, "\(error)", "is the backend running and listening on \(target.host):\(target.port)?")
        case .tls where peerClosed || Self.isTLSEndOfInput(error):
            return failure(.tls, "the backend closed the connection during the TLS handshake", "is it plain WebSocket (use ws://)?")
        case .tls:
            return failure(.tls, "\(error)", "is the backend TLS at all (else use ws://)?")
        case .upgrade where peerClosed:
            return failure(.upgrade, "the backend closed the connection before the WebSocket upgrade", "is it TLS (use wss://)?")
        case .upgrade:
            return failure(.upgrade, "\(error)", "is it TLS (use wss://), and is \(target.path) a WebSocket endpoint?")
        }
    }
}

/// One attempt's channel and phase, shared between the event loop and the task that waits: closing
/// the channel is the one way every wait ends (deadline, cancellation, peer's FIN).
final class Attempt: Sendable {
    private struct State {
        var channel: (any Channel)?
        var deadline: Scheduled<Void>?
        var phase = SignalConnectPhase.connect
        var timedOut = false
        var peerClosed = false
        var cancelled = false
        var upgraded = false
    }
    private let state = NIOLockedValueBox(State())
    private let tls: Bool

    init(tls: Bool) { self.tls = tls }

    var outcome: (SignalConnectPhase, timedOut: Bool, peerClosed: Bool) {
        state.withLockedValue { ($0.phase, $0.timedOut, $0.peerClosed) }
    }

    func attach(_ channel: any Channel, deadline: Duration) throws {
        let cancelled = state.withLockedValue { s -> Bool in
            s.channel = channel
            return s.cancelled
        }
        if cancelled { throw CancellationError() }
        let millis = max(1, Int64(deadline / .milliseconds(1)))
        let task = channel.eventLoop.scheduleTask(in: .milliseconds(millis)) { [self] in
            let close = state.withLockedValue { s -> Bool in
                guard !s.upgraded else { return false }
                s.timedOut = true
                return true
            }
            if close { channel.close(promise: nil) }
        }
        state.withLockedValue { $0.deadline = task }
    }

    func connected() { state.withLockedValue { $0.phase = tls ? .tls : .upgrade } }
    func handshakeDone() { state.withLockedValue { $0.phase = .upgrade } }
    func peerClosedInput() { state.withLockedValue { if !$0.upgraded { $0.peerClosed = true } } }

    func upgraded() {
        let task = state.withLockedValue { s -> Scheduled<Void>? in
            s.upgraded = true
            return s.deadline
        }
        task?.cancel()
    }

    func cancel() {
        let channel = state.withLockedValue { s -> (any Channel)? in
            s.cancelled = true
            return s.channel
        }
        channel?.close(promise: nil)
    }

    func closeAfter(_ grace: Duration) {
        guard let channel = state.withLockedValue({ $0.channel }) else { return }
        let millis = Int64(grace / .milliseconds(1))
        channel.eventLoop.scheduleTask(in: .milliseconds(millis)) { channel.close(promise: nil) }
    }
}

/// Tells the attempt where the connection stands: connected, TLS done, peer gone.
private final class PhaseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let attempt: Attempt
    init(attempt: Attempt) { self.attempt = attempt }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { attempt.connected() }
    }

    func channelActive(context: ChannelHandlerContext) {
        attempt.connected()
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { attempt.handshakeDone() }
        if case .inputClosed = event as? ChannelEvent { attempt.peerClosedInput() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        attempt.peerClosedInput()
        context.fireChannelInactive()
    }
}
