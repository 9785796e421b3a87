import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import ServiceLifecycle
import TesseraCore
import TesseraInput
import TesseraLayout
import TesseraMedia
import TesseraOutput
import TesseraSignal
import TesseraSignalServer
@testable import TesseraKiosk
import Testing

/// The whole wall on loopback, in-process: the reference backend, live UDP publishers (libx264,
/// MPEG-TS), the kiosk with the headless backend and CPU renderer, and its snapshots read back.
/// Generous timeouts (a shared 2-core machine); nothing here asserts speed.
@Suite(.serialized) struct EndToEndTests {
    static let count = 64

    @Test func wallFollowsBackendKeysFileAndPublishers() async throws {
        LoggingSystem.bootstrapForTests()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-e2e-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layoutPath = "\(dir)/wall.json"
        let original = try String(contentsOfFile: "\(repoRoot)/Layouts/single-1080p.json", encoding: .utf8)
        try original.write(toFile: layoutPath, atomically: true, encoding: .utf8)
        let layout = try LayoutFiles.load(layoutPath).get()

        // Backend and publishers.
        let backend = try await Backend.start()
        let ports = (0..<Self.count).map { Ports.base + $0 }
        var publishers = ports.enumerated().map { i, port in Publisher.start(participant: i + 1, port: port) }
        defer { publishers.forEach { $0.stop() } }
        for n in 1...Self.count {
            try await backend.store.upsert(ParticipantInput(id: ParticipantID("p\(n)"), name: "Participant \(n)", streams: [
                ParticipantStream(kind: .camera, layers: [StreamLayer(width: 320, height: 180, url: "udp://127.0.0.1:\(ports[n - 1])")])]), in: "r")
        }

        // The wall.
        var signalPolicy = StreamURLPolicy()
        signalPolicy.allowedSchemes.insert("udp")
        signalPolicy.allowedHosts = ["127.0.0.1"]
        var config = KioskConfiguration(layoutPath: layoutPath, room: .signal(SignalClientConfiguration(
            url: backend.url, room: "r", wallID: "wall-e2e", token: .value(Backend.wallToken), urlPolicy: signalPolicy,
            statusInterval: .milliseconds(500))))
        config.backend = .headless
        config.media.policy = URLPolicy(allowedSchemes: ["udp"], allowedHosts: ["127.0.0.1"])
        config.media.offlineAfter = .seconds(2)
        config.media.stallAfter = .milliseconds(800)
        config.snapshotDirectory = "\(dir)/snapshots"
        config.snapshotInterval = .milliseconds(300)
        config.headlessFPS = 10
        config.healthAddress = "127.0.0.1:0"
        config.keyboard = .none
        config.handleSignals = false
        config.workersPerOutput = 1
        let kiosk = try Kiosk(configuration: config)
        let run = Task { try await kiosk.run() }
        defer { run.cancel() }

        // Keys arrive through a pipe read by the terminal keyboard, as a developer's terminal would send them.
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        kiosk.addKeyboards([TerminalKeyboard(fd: fds[0])])
        func type(_ s: String) { _ = s.utf8CString.withUnsafeBufferPointer { write(fds[1], $0.baseAddress, s.utf8.count) } }

        let snapshot = "\(dir)/snapshots/main.png"

        // 1. Every participant, in its colour, in the rectangle `tessera plan` gives it.
        try await eventually("all \(Self.count) streams playing") {
            let s = kiosk.media.stats
            return s.streams.count == Self.count && s.streams(in: .playing) == Self.count
        }
        try await expectPicture(snapshot, layout: layout, preset: "gallery")

        // Health and metrics over HTTP.
        let port = try #require(kiosk.healthPort)
        let (healthBody, healthStatus) = try await get("http://127.0.0.1:\(port)/healthz")
        #expect(healthStatus == 200)
        #expect(healthBody == "ok\n")
        let (metrics, _) = try await get("http://127.0.0.1:\(port)/metrics")
        #expect(metrics.contains("tessera_stream_up{stream=\"p1\",state=\"playing\"} 1"))
        #expect(metrics.contains("tessera_output_frames_total{output=\"main\"}"))
        #expect(metrics.contains("tessera_render_frame_seconds_count{output=\"main\"}"))
        // The CPU renderer's scaling scratch is held, and shown (issue 17).
        let scratch = metrics.split(separator: "\n").first { $0.hasPrefix("tessera_render_scratch_bytes ") }
        #expect((scratch?.split(separator: " ").last.flatMap { Double($0) } ?? 0) > 0, "\(scratch ?? "no tessera_render_scratch_bytes")")

        // 2. A key switches the preset, and the backend hears of it.
        type("2")
        try await eventually("preset speaker after key 2") { kiosk.wall.currentView.preset == "speaker" }
        try await eventually("backend told of the keyboard's change") {
            try await backend.store.view(of: "r").walls.first?.layout == LayoutChanged(preset: "speaker", rev: 0, source: .keyboard)
        }
        try await expectPicture(snapshot, layout: layout, preset: "speaker")

        // 3. The backend's layout.set switches it too.
        _ = try await backend.store.setLayout(preset: "content", in: "r")
        try await eventually("preset content after layout.set") { kiosk.wall.currentView.preset == "content" }
        try await expectPicture(snapshot, layout: layout, preset: "content")

        // 3b. Protocol 1.1: the backend's view.set hides the labels, and the wall reports its view.
        try await backend.store.setView(labels: false, in: "r")
        try await eventually("labels hidden after view.set") { !kiosk.wall.currentView.labelsVisible }
        try await eventually("backend told of the wall's view") {
            try await backend.store.view(of: "r").walls.first?.view?.labels == false
        }
        try await backend.store.setView(labels: true, in: "r")
        try await eventually("labels shown again") { kiosk.wall.currentView.labelsVisible }

        // 4. A broken edit is refused and the last good layout stays; a good edit applies without
        //    restarting the streams that stay visible.
        type("1")
        try await eventually("back to gallery") { kiosk.wall.currentView.preset == "gallery" }
        let mailbox = try #require(kiosk.media.mailbox(for: StreamID("p1")))
        try original.replacingOccurrences(of: "\"gap\": 8", with: "\"gap\": 8,,").write(toFile: layoutPath, atomically: true, encoding: .utf8)
        try await eventually("broken edit rejected") { (kiosk.metrics.counts["layout_reload_rejected"] ?? 0) >= 1 }
        #expect(kiosk.wall.currentLayout == layout)
        try await expectPicture(snapshot, layout: layout, preset: "gallery")
        // Values at the edge of Int once trapped in the checks and ended the wall (issue 12).
        try original.replacingOccurrences(of: "\"x\": 0", with: "\"x\": 9223372036854775807")
            .write(toFile: layoutPath, atomically: true, encoding: .utf8)
        try await eventually("Int.max edit rejected") { (kiosk.metrics.counts["layout_reload_rejected"] ?? 0) >= 2 }
        #expect(kiosk.wall.currentLayout == layout)
        try await expectPicture(snapshot, layout: layout, preset: "gallery")
        try original.replacingOccurrences(of: "\"gap\": 8", with: "\"gap\": 24").write(toFile: layoutPath, atomically: true, encoding: .utf8)
        try await eventually("good edit applied") { kiosk.wall.currentLayout.style.gap == 24 }
        let edited = kiosk.wall.currentLayout
        #expect(kiosk.media.mailbox(for: StreamID("p1")) === mailbox)
        try await expectPicture(snapshot, layout: edited, preset: "gallery")

        // 5. Killed publishers show their offline slate; back, they play again.
        let killed = [1, 2, 3, 4]
        for n in killed { publishers[n - 1].stop() }
        try await eventually("killed streams offline") {
            killed.allSatisfy { kiosk.media.source(for: StreamID(ParticipantID("p\($0)")))?.state == .offline }
        }
        try await expectPicture(snapshot, layout: edited, preset: "gallery", offline: Set(killed))
        for n in killed { publishers[n - 1] = Publisher.start(participant: n, port: ports[n - 1]) }
        try await eventually("revived streams playing") {
            killed.allSatisfy { kiosk.media.source(for: StreamID(ParticipantID("p\($0)")))?.state == .playing }
        }
        try await expectPicture(snapshot, layout: edited, preset: "gallery")

        await kiosk.shutdown()
        try await run.value
        // At exit the last picture is written, and every stream thread has ended.
        #expect(FileManager.default.fileExists(atPath: snapshot))
        #expect(kiosk.media.openStreams.isEmpty)
        await backend.stop()
    }
}

// MARK: - Support

/// Reads the snapshot until every participant tile of `preset` (as the plan gives it for a room of
/// p1…pN) shows that participant's colour, or the slate for `offline` ones.
func expectPicture(_ path: String, layout: Layout, preset: String, offline: Set<Int> = [],
                   timeout: Duration = .seconds(20)) async throws {
    var view = ViewState(layout: layout)
    view.preset = preset
    let scene = SceneBuilder(layout: layout).build(room: Room.synthetic(count: EndToEndTests.count), state: view)
    let tiles = scene.outputs[0].tiles.filter { $0.participant != nil && $0.rect.height >= 40 }
    #expect(!tiles.isEmpty)
    var last = ""
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let picture = try? PNGFile.read(path) {
            let wrong = tiles.compactMap { tile -> String? in
                let n = Int(tile.participant!.rawValue.dropFirst())!
                let seen = sample(picture, in: tile.rect)
                let expected = TestColors.rgb(participant: n)
                let matches = TestColors.close(seen, expected)
                if offline.contains(n) { return matches ? "p\(n) still shows its picture" : nil }
                return matches ? nil : "p\(n) at \(tile.rect): saw \(seen), expected \(expected)"
            }
            if wrong.isEmpty { return }
            last = wrong.prefix(4).joined(separator: "; ")
        }
        try await Task.sleep(for: .milliseconds(300))
    }
    Issue.record("snapshot \(path) never matched preset \(preset): \(last)")
}

/// The mean colour of a small patch right of the number and above the moving bar.
func sample(_ picture: MemoryBuffer, in r: Rect) -> (Int, Int, Int) {
    let cx = r.x + r.width * 85 / 100, cy = r.y + r.height * 30 / 100
    var sum = (0, 0, 0), n = 0
    for y in (cy - 2)...(cy + 2) { for x in (cx - 2)...(cx + 2) {
        let c = picture[x, y]; sum.0 += Int(c.red); sum.1 += Int(c.green); sum.2 += Int(c.blue); n += 1
    } }
    return (sum.0 / n, sum.1 / n, sum.2 / n)
}

enum TestColors {
    /// The test publisher's background for participant `n`, in RGB (BT.709, limited range).
    static func rgb(participant n: Int) -> (Int, Int, Int) {
        let c = TestPattern.color(participant: n)
        let y = 1.164 * (Double(c.y) - 16), cb = Double(c.cb) - 128, cr = Double(c.cr) - 128
        func clamp(_ v: Double) -> Int { max(0, min(255, Int(v.rounded()))) }
        return (clamp(y + 1.793 * cr), clamp(y - 0.213 * cb - 0.533 * cr), clamp(y + 2.112 * cb))
    }
    static func close(_ a: (Int, Int, Int), _ b: (Int, Int, Int), tolerance: Int = 28) -> Bool {
        abs(a.0 - b.0) <= tolerance && abs(a.1 - b.1) <= tolerance && abs(a.2 - b.2) <= tolerance
    }
}

func eventually(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("timed out waiting for \(what)")
    throw CancellationError()
}

func get(_ url: String) async throws -> (String, Int) {
    let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
    return (String(decoding: data, as: UTF8.self), (response as? HTTPURLResponse)?.statusCode ?? 0)
}

/// Loopback UDP ports for one run: a random base, so parallel runs rarely meet, below the kernel's
/// ephemeral range (32768…), where the publishers' own sending sockets could take one.
extension KioskConfiguration {
    /// A headless kiosk on `Layouts/single-1080p.json` with a local room, as tests run it: health
    /// on a free port, no keyboard, stopped by `shutdown()` rather than signals.
    static func forTests(_ room: Room, fps: Double) -> KioskConfiguration {
        var config = KioskConfiguration(layoutPath: "\(repoRoot)/Layouts/single-1080p.json", room: .local(room))
        config.backend = .headless
        config.headlessFPS = fps
        config.healthAddress = "127.0.0.1:0"
        config.keyboard = .none
        config.handleSignals = false
        return config
    }
}

enum Ports {
    static let base = 12000 + Int.random(in: 0..<1800) * 10
}

/// A live publisher of participant `n`'s test pattern on a loopback UDP port.
struct Publisher {
    let publisher: TestPublisher
    static func start(participant: Int, port: Int) -> Publisher {
        var o = TestSourceOptions()
        o.participant = participant; o.size = Size(width: 320, height: 180); o.fps = 10; o.gop = 10
        let p = TestPublisher(url: "udp://127.0.0.1:\(port)", options: o)
        p.start()
        return Publisher(publisher: p)
    }
    func stop() { publisher.stop(); publisher.join(timeout: .seconds(5)) }
}

/// The reference backend in-process on a free port.
final class Backend: Sendable {
    static let wallToken = "wall-token-for-tests"
    let port: Int
    let store: RoomStore
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    var url: String { "ws://127.0.0.1:\(port)\(SignalProtocol.webSocketPath)" }

    private init(port: Int, store: RoomStore, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port; self.store = store; self.group = group; self.task = task
    }

    static func start() async throws -> Backend {
        let store = RoomStore()
        let logger = Logger(label: "test.backend")
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = SignalServer(configuration: .init(host: "127.0.0.1", port: 0, wallTokens: [SignalToken(secret: wallToken)],
                                                       adminToken: SignalToken(secret: "admin-token-for-tests")),
                                  store: store, logger: logger) { port in continuation.yield(port); continuation.finish() }
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let task = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else { throw CancellationError() }
        return Backend(port: port, store: store, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

extension LoggingSystem {
    /// Quiet logs unless KIOSK_TEST_LOG names a level (e.g. KIOSK_TEST_LOG=info).
    static func bootstrapForTests() {
        _ = bootstrapOnce
    }
    private static let bootstrapOnce: Void = {
        let level = ProcessInfo.processInfo.environment["KIOSK_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }()
}
