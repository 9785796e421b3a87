import Foundation
import Logging
import ServiceLifecycle
import TesseraCore
import TesseraSignal
import TesseraSignalServer
import Testing

let wallToken = "wall-secret-for-tests"
let adminToken = "admin-secret-for-tests"

/// Quiet loggers: the suite's output stays readable; set SIGNAL_TEST_LOG=debug to see them.
func testLogger(_ label: String) -> Logger {
    var l = Logger(label: label)
    l.logLevel = ProcessInfo.processInfo.environment["SIGNAL_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return l
}

/// The real reference backend, in-process, on 127.0.0.1.
final class RunningBackend: Sendable {
    let port: Int
    let store: RoomStore
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, store: RoomStore, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port; self.store = store; self.group = group; self.task = task
    }

    /// Starts a backend; `port` 0 picks a free one.
    static func start(store: RoomStore = RoomStore(), port: Int = 0,
                      configure: (inout SignalServerConfiguration) -> Void = { _ in }) async throws -> RunningBackend {
        var config = SignalServerConfiguration(host: "127.0.0.1", port: port, wallTokens: [SignalToken(secret: wallToken)],
                                               adminToken: SignalToken(secret: adminToken))
        config.byeRetryAfter = .milliseconds(100)  // tests that restart a backend need not wait
        configure(&config)
        let (ports, portsContinuation) = AsyncStream.makeStream(of: Int.self)
        let server = SignalServer(configuration: config, store: store, logger: testLogger("test.server")) { port in
            portsContinuation.yield(port)
            portsContinuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [server], logger: testLogger("test.group")))
        let task = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        guard let bound = await it.next() else { throw TestFailure("backend did not start") }
        return RunningBackend(port: bound, store: store, group: group, task: task)
    }

    var url: String { "ws://127.0.0.1:\(port)\(SignalProtocol.webSocketPath)" }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A wall's client running against `url`, with test-friendly timings.
final class RunningClient: Sendable {
    let client: SignalClient
    private let task: Task<Void, any Error>

    init(url: String, room: String = "r", token: String = wallToken, policy: StreamURLPolicy = .init(),
         configure: (inout SignalClientConfiguration) -> Void = { _ in }) {
        var config = SignalClientConfiguration(url: url, room: room, wallID: "wall-test", token: .value(token),
                                               urlPolicy: policy,
                                               backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(400)),
                                               statusInterval: .milliseconds(200))
        configure(&config)
        client = SignalClient(configuration: config, logger: testLogger("test.client"))
        let client = self.client
        task = Task { try await client.run() }
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// Polls `condition` until it holds. Generous by default: a shared 2-core CI machine can be slow,
/// and nothing here measures speed.
func eventually(timeout: Duration = .seconds(60), _ what: @autoclosure () -> String = "condition",
                _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TestFailure("timed out waiting for \(what())")
}

func camera(_ id: String, host: String = "media.example", scheme: String = "rtsp") -> [ParticipantStream] {
    [ParticipantStream(kind: .camera, layers: [
        StreamLayer(width: 320, height: 180, fps: 15, url: "\(scheme)://\(host)/\(id)/180"),
        StreamLayer(width: 1280, height: 720, fps: 30, url: "\(scheme)://\(host)/\(id)/720"),
    ])]
}

func fill(_ store: RoomStore, room: String = "r", ids: some Sequence<Int>) async throws {
    for n in ids {
        try await store.upsert(ParticipantInput(id: ParticipantID("p\(n)"), name: "Participant \(n)", streams: camera("p\(n)")), in: room)
    }
}

/// The backend's roster, in join order, as the wall should see it.
func backendRoster(_ store: RoomStore, room: String = "r") async throws -> [Participant] {
    try await store.view(of: room).snapshot.participants.map(\.participant)
}
