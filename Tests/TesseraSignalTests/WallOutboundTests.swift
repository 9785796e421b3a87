import Foundation
import NIOWebSocket
import TesseraCore
@testable import TesseraSignal
import TesseraSignalServer
import Testing
import WSClient

/// What the wall says to the backend: its capabilities, refusals within the backend's rate, and
/// how it answers a backend that says bye.
@Suite(.timeLimit(.minutes(3)))
struct WallOutboundTests {
    /// `hello.capabilities.schemes` is what the URL gate accepts, `--allow-scheme` additions
    /// included.
    @Test func helloNamesTheSchemesTheWallAccepts() async throws {
        let backend = try await ScriptedBackend.start { _ in }
        var policy = StreamURLPolicy()
        policy.allowedSchemes.formUnion(["udp", "rtp"])
        let wall = RunningClient(url: backend.url, policy: policy)
        try await eventually("hello") { await !backend.log.hellos.isEmpty }
        #expect(await backend.log.hellos[0].capabilities.schemes == ["rtp", "rtsp", "rtsps", "srt", "udp"])
        await wall.stop()
        await backend.stop()
    }

    /// `outputs` is what the configuration says the wall has (the kiosk fills it from the layout).
    @Test func helloNamesTheWallsOutputs() async throws {
        let backend = try await ScriptedBackend.start { _ in }
        let outputs = [OutputCapability(id: "left", connector: "HDMI-A-1", width: 1920, height: 1080, refresh: 60)]
        let wall = RunningClient(url: backend.url) { $0.capabilities.outputs = outputs }
        try await eventually("hello") { await !backend.log.hellos.isEmpty }
        #expect(await backend.log.hellos[0].capabilities.outputs == outputs)
        await wall.stop()
        await backend.stop()
    }

    /// An older wall's outputs were bare names; a backend still reads them.
    @Test func outputsAsBareNamesStillDecode() throws {
        let text = #"{"v":1,"type":"hello","data":{"versions":[1],"wallId":"w","nodeId":"n","room":"r","token":"t","capabilities":{"schemes":["rtsp"],"codecs":["h264"],"maxDecodes":1,"outputs":["HDMI-A-1"]}}}"#
        guard case .hello(let h) = try SignalCodec.decode(text).message else { Issue.record("not a hello"); return }
        #expect(h.capabilities.outputs == [OutputCapability(id: "HDMI-A-1")])
    }

    /// A 5,000-person roster whose every URL the wall refuses: 1,000 admitted with both layers
    /// refused, 4,000 over the cap. One `error` each would be 6,000 messages, far over the
    /// backend's 50/s, and the backend would cut the wall off. The wall sends at most 20 per
    /// update and a summary, within the rate over time, and stays connected.
    @Test func aFloodOfRefusalsStaysWithinTheBackendsRate() async throws {
        let store = RoomStore(maxParticipantsPerRoom: 5200)
        for n in 1...5000 {
            try await store.upsert(ParticipantInput(id: ParticipantID("p\(n)"), name: "P\(n)", streams: camera("p\(n)", scheme: "file")), in: "r")
        }
        let backend = try await RunningBackend.start(store: store)
        let wall = RunningClient(url: backend.url)
        try await eventually("the snapshot") { await wall.client.snapshotsApplied == 1 }
        #expect(await wall.client.room.participants.count == 1000)
        let connections = await wall.client.connections
        try await eventually("the summary") {
            try await store.view(of: "r").walls.first?.errors.contains { $0.message.contains("more participants refused") } == true
        }
        // Then a stream of single refusals, faster than the backend's rate.
        for n in 5001...5150 {
            try await store.upsert(ParticipantInput(id: ParticipantID("p\(n)"), name: "P\(n)", streams: camera("p\(n)")), in: "r")
        }
        try await eventually("the events") { await wall.client.lastSeq == 5150 }
        try await Task.sleep(for: .seconds(1))
        let disconnects = await wall.client.disconnects
        #expect(!disconnects.contains { $0.closeCode != nil }, "\(disconnects)")
        #expect(await wall.client.connections == connections, "it stayed connected")
        let errors = try await store.view(of: "r").walls.first?.errors ?? []
        #expect(!errors.contains { $0.code == .rateLimited })
        await wall.stop()
        await backend.stop()
    }

    /// On graceful shutdown (SIGTERM in `tessera-signal`) the backend says `bye` with a retry
    /// delay to every wall, then closes with 1001; the wall waits that long before reconnecting.
    /// Also when the backend is busy as it shuts down: its store (and one of the test process's two
    /// cooperative threads) held for longer than the shutdown grace, as a loaded machine holds it.
    /// Before the grace counted from the byes, a busy backend closed every connection before the
    /// bye was written: the walls got neither bye nor 1001 (seen in `make test` and with CPU hogs).
    @Test(arguments: zip([Duration.zero, .seconds(1)], [Duration.seconds(2), .milliseconds(250)]))
    func aBackendThatShutsDownSaysByeAndTheWallWaits(busyFor busy: Duration, shutdownGrace: Duration) async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...3)
        let configure: @Sendable (inout SignalServerConfiguration) -> Void = {
            $0.byeRetryAfter = .milliseconds(1500)
            $0.shutdownGrace = shutdownGrace
        }
        var backend = try await RunningBackend.start(store: store, configure: configure)
        let port = backend.port
        let wall = RunningClient(url: backend.url)
        try await eventually("the snapshot") { await wall.client.snapshotsApplied == 1 }

        // A raw wall sees the bye itself.
        let recorder = Recorder()
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Void.self)
        let url = backend.url
        let raw = Task {
            let ws = WebSocketClient(url: url, configuration: .init(maxFrameSize: 1 << 20), logger: testLogger("test.bye")) { inbound, outbound, _ in
                try await outbound.writeTextMessage(helloText())
                var n = 0
                for try await message in inbound.messages(maxSize: 8 << 20) {
                    guard case .text(let text) = message else { continue }
                    await recorder.add(try SignalCodec.decode(text))
                    n += 1
                    if n == 2 { readyContinuation.yield() }
                }
            }
            return try await ws.run()
        }
        for await _ in ready { break }

        let (held, heldContinuation) = AsyncStream.makeStream(of: Void.self)
        let hold = Task { await store.hold(for: busy) { heldContinuation.yield() } }
        if busy > .zero { for await _ in held { break } }
        await backend.stop()
        await hold.value
        let close = try await raw.value
        #expect(close.map { WebSocketErrorCode.number($0.closeCode) } == 1001)
        let last = await recorder.received.last?.message
        #expect(last == .bye(Bye(reason: "backend shutting down", retryAfterMs: 1500)))

        try await eventually("the wall's link down") { !wall.client.link.connected }
        let disconnects = await wall.client.disconnects
        try #require(disconnects.contains { $0.closeCode == 1001 }, "the wall's disconnects: \(disconnects)")
        // The wall's own clock: when its link went down, and when it was up again (a busy test
        // process may notice either late).
        let closedAt = wall.client.link.since
        backend = try await RunningBackend.start(store: store, port: port, configure: configure)
        try await eventually("reconnected") { await wall.client.state == .connected(resumed: true) }
        // A lower bound only: the wall waited at least what the backend asked.
        #expect(wall.client.link.since - closedAt > .milliseconds(1300))
        await wall.stop()
        await backend.stop()
    }

    /// The backend says bye and closes with 1001 while the wall is writing (status every
    /// millisecond): the wall records the 1001. Its writer's failed write on the closed socket
    /// used to end the connection first, and the wall recorded "I/O on closed channel" (seen
    /// under CPU hogs in `aBackendThatShutsDownSaysByeAndTheWallWaits`).
    @Test func aWallWritingWhenTheBackendClosesStillRecordsThe1001() async throws {
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s\(c.number)")
            try await c.send(.snapshot(Snapshot(room: "r", participants: [], activeSpeaker: nil, layout: nil)), seq: 0)
            try await c.send(.bye(Bye(reason: "backend shutting down", retryAfterMs: 0)))
            try await c.outbound.close(.goingAway, reason: "backend shutting down")
        }
        let wall = RunningClient(url: backend.url) {
            $0.statusInterval = .milliseconds(1)
            $0.backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(1))
        }
        try await eventually("40 connections") { await wall.client.connections >= 40 }
        let disconnects = await wall.client.disconnects
        await wall.stop()
        await backend.stop()
        #expect(disconnects.count == 16)
        #expect(disconnects.allSatisfy { $0.closeCode == 1001 }, "\(disconnects)")
    }

    @Test func aByesDelayIsBounded() {
        #expect(SignalClient.retryDelay(for: Bye(reason: "r", retryAfterMs: 1500)) == .milliseconds(1500))
        #expect(SignalClient.retryDelay(for: Bye(reason: "r", retryAfterMs: .max)) == .seconds(60))
        #expect(SignalClient.retryDelay(for: Bye(reason: "r", retryAfterMs: -5)) == .zero)
        #expect(SignalClient.retryDelay(for: Bye(reason: "r", retryAfterMs: nil)) == nil)
    }
}

extension RoomStore {
    /// Keeps the store busy for `duration`, as a large admin write on a loaded machine does: it
    /// spins on the store's executor, so nothing else reaches the store meanwhile. `started` is
    /// called once it holds the store.
    func hold(for duration: Duration, started: @Sendable () -> Void) {
        guard duration > .zero else { return }
        started()
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {}
    }
}
