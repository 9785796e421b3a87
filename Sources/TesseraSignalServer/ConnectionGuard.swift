import Foundation
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Every TCP connection the backend accepts, by mechanism: at most `limit` at once (over it, a new
/// connection is closed at once), each must get its first request answered (the WebSocket upgrade
/// or an admin call) within `deadline` or it is closed, and a shutdown closes them all. A flood of
/// idle or half-sent connections therefore cannot lock out walls or /healthz for longer than the
/// deadline, nor hold the process past SIGTERM.
final class ConnectionRegistry: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var closing = false
        var refused = 0
        var timedOut = 0
    }
    let limit: Int
    let deadline: Duration
    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    init(limit: Int, deadline: Duration, logger: Logger) {
        self.limit = max(1, limit); self.deadline = deadline; self.logger = logger
    }

    var openCount: Int { state.withLockedValue { $0.open.count } }

    /// Takes the connection in, or says no (over the cap, or shutting down).
    func admit(_ channel: any Channel) -> Bool {
        let (admitted, refused, closing) = state.withLockedValue { s -> (Bool, Int, Bool) in
            guard !s.closing, s.open.count < limit else {
                s.refused += 1
                return (false, s.refused, s.closing)
            }
            s.open[ObjectIdentifier(channel)] = channel
            return (true, s.refused, s.closing)
        }
        // One line for the first refusal and then one per hundred: a flood does not flood the log.
        if !admitted && !closing && refused % 100 == 1 {
            logger.warning("over the connection limit; closing new connections",
                           metadata: ["limit": "\(limit)", "refused_so_far": "\(refused)"])
        }
        return admitted
    }

    func remove(_ channel: any Channel) {
        _ = state.withLockedValue { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func timedOut(_ channel: any Channel) {
        let n = state.withLockedValue { s -> Int in
            s.timedOut += 1
            return s.timedOut
        }
        if n % 100 == 1 {
            logger.notice("closing a connection that sent no complete request in time",
                          metadata: ["deadline": "\(deadline)", "peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")",
                                     "closed_so_far": "\(n)"])
        }
        channel.close(promise: nil)
    }

    /// Refuses new connections from now on (shutdown); the open ones stay until `closeAll`.
    func refuseNew() {
        state.withLockedValue { $0.closing = true }
    }

    /// Refuses new connections from now on and closes every open one after `grace` (room for the
    /// peers to answer the WebSocket handlers' close frames).
    func closeAll(after grace: Duration) {
        let channels = state.withLockedValue { s -> [any Channel] in
            s.closing = true
            return Array(s.open.values)
        }
        let millis = max(0, Int64(grace / .milliseconds(1)))
        for channel in channels {
            channel.eventLoop.scheduleTask(in: .milliseconds(millis)) { channel.close(promise: nil) }
        }
    }

    /// The default cap: 1,024 connections, and never within 64 of the process's open-file limit.
    static func defaultLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        let soft = UInt64(limit.rlim_cur)  // RLIM_INFINITY is the largest value
        let room = soft > 128 ? Int(clamping: soft - 64) : 64
        return max(16, min(1024, room))
    }
}

/// Watches one connection from the moment it is accepted: closes it when over the cap, and when
/// nothing has been written back (no upgrade, no response) by the registry's deadline.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = NIOAny

    private let registry: ConnectionRegistry
    private var timer: Scheduled<Void>?
    private var answered = false

    init(registry: ConnectionRegistry) { self.registry = registry }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        guard registry.admit(channel) else {
            context.close(promise: nil)
            return
        }
        let millis = max(1, Int64(registry.deadline / .milliseconds(1)))
        let registry = self.registry
        timer = context.eventLoop.scheduleTask(in: .milliseconds(millis)) { registry.timedOut(channel) }
    }

    /// The deadline is on the peer: it ends once a whole request head (up to the blank line) has
    /// arrived, so a busy server answering slowly never cuts off a request it already has, while
    /// an idle or half-sent connection is still closed.
    private var tail: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if !answered, let bytes = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) {
            tail = tail + bytes
            let marker: [UInt8] = [13, 10, 13, 10]
            if tail.count >= 4, (0...(tail.count - 4)).contains(where: { Array(tail[$0..<$0 + 4]) == marker }) {
                answered = true
                timer?.cancel()
                tail = []
            } else {
                tail = Array(tail.suffix(3))
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !answered {
            answered = true
            timer?.cancel()
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        registry.remove(context.channel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        registry.remove(context.channel)
    }
}

/// Puts a `ConnectionGuardHandler` in front of `Base`'s pipeline (after TLS, when `Base` is wrapped
/// in it, so only plaintext answers count as answers).
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let registry: ConnectionRegistry

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuardHandler(registry: registry))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
