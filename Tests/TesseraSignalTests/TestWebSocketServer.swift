import Foundation
import Hummingbird
import HummingbirdWebSocket
import ServiceLifecycle
import TesseraSignal

/// A WebSocket server on a free loopback port for a test's own peer (a scripted backend, a
/// recording relay, a silent backend): started, its port learnt, stopped. No pings of its own.
struct TestWebSocketServer: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// `maxFrameSize`: nil for the library's default.
    static func start(_ router: Router<BasicWebSocketRequestContext>, maxFrameSize: Int? = nil, label: String) async throws -> TestWebSocketServer {
        let (ports, portsContinuation) = AsyncStream.makeStream(of: Int.self)
        let ws: WebSocketServerConfiguration = maxFrameSize.map { .init(maxFrameSize: $0, autoPing: .disabled) } ?? .init(autoPing: .disabled)
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: ws)),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portsContinuation.yield(channel.localAddress?.port ?? 0)
                portsContinuation.finish()
            },
            logger: testLogger(label))
        let group = ServiceGroup(configuration: .init(services: [app], logger: testLogger("\(label).group")))
        let task = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else { throw TestFailure("\(label) did not start") }
        return TestWebSocketServer(port: port, group: group, task: task)
    }

    var url: String { "ws://127.0.0.1:\(port)\(SignalProtocol.webSocketPath)" }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
