import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TesseraCore
import TesseraInput
import TesseraKiosk
import TesseraMedia
import TesseraOutput
import TesseraSignal
import TesseraSignalServer

/// `tessera demo` (what `make demo` runs): the reference backend, N synthetic publishers on
/// loopback UDP and the wall, all in this process; a teacher's key presses and a backend
/// `layout.set`; PNG snapshots and a stats summary in --out.
///
/// Exit codes: 0 the demo ran; 1 something could not start (the message says what).
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the lecture-theatre wall with synthetic participants, backend and publishers in-process.",
        discussion: "Leaves DIR/<output>.png (the last picture), DIR/<preset>-<output>.png per step and DIR/summary.txt.")

    @Option(help: "The layout file.") var layout: String = "Layouts/lecture-theatre.json"
    @Option(help: "Synthetic participants (p1 is the teacher and shares slides).") var participants: Int = 250
    @Option(help: "Directory for snapshots and the summary.") var out: String = "out/demo"
    @Option(help: "Output backend: drm, headless, or auto (drm when /dev/dri has a card, else headless).") var backend: String = "auto"
    @Option(help: "Renderer: cpu or gles.") var renderer: RendererKind = .cpu
    @Option(help: "Frames per second of each headless output.") var fps: Double = 10
    // 250 libx264 encoders at 15 fps need about 2.6 cores by themselves (0.7 ms a 320x180 frame,
    // measured here), more than a 2-core machine has beside decoding and drawing the wall.
    @Option(help: "Frames per second of each publisher (15 needs about 2.6 cores for 250 encoders alone).") var publisherFps: Int = 5
    @Option(help: "Seconds each step of the teacher's script is held.") var hold: Double = 6
    @Option(help: "Longest wait for the streams to start playing, in seconds.") var startTimeout: Double = 40

    func validate() throws {
        guard ["auto", "drm", "headless"].contains(backend) else { throw ValidationError("--backend must be auto, drm or headless") }
        guard (1...1000).contains(participants) else { throw ValidationError("--participants must be 1…1000") }
        guard fps > 0, publisherFps > 0, hold > 0 else { throw ValidationError("--fps, --publisher-fps and --hold must be positive") }
    }

    func run() throws {
        bootstrapLogging(level: .error)
        do { try blockingRun { try await runDemo() } } catch {
            printError("demo: \(error)")
            throw ExitCode(1)
        }
    }

    private func say(_ s: String) { print(s); fflush(nil) }

    private func runDemo() async throws {
        let started = ContinuousClock.now
        func t() -> String {
            let d = ContinuousClock.now - started
            return String(format: "[%5.1fs]", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for f in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] where f.hasSuffix(".png") {
            try? FileManager.default.removeItem(atPath: "\(out)/\(f)")
        }

        // 1. The reference backend, in-process on a free port.
        let wallToken = UUID().uuidString, adminToken = UUID().uuidString
        let store = RoomStore()
        let backendLogger = { var l = Logger(label: "demo.backend"); l.logLevel = .error; return l }()
        let (ports, portsContinuation) = AsyncStream.makeStream(of: Int.self)
        let server = SignalServer(configuration: .init(host: "127.0.0.1", port: 0, wallTokens: [SignalToken(secret: wallToken)],
                                                       adminToken: SignalToken(secret: adminToken)),
                                  store: store, logger: backendLogger) { port in portsContinuation.yield(port); portsContinuation.finish() }
        let backendGroup = ServiceGroup(configuration: .init(services: [server], logger: backendLogger))
        let backendTask = Task { try await backendGroup.run() }
        var it = ports.makeAsyncIterator()
        guard let signalPort = await it.next() else { throw KioskError.unavailable("the reference backend did not start") }
        say("\(t()) backend: reference signaling backend on ws://127.0.0.1:\(signalPort)/signal, room \"demo\"")

        // 2. Publishers: one UDP MPEG-TS stream per participant, plus the teacher's slides.
        let udpPorts = try FreeUDPPorts.take(participants + 1)
        var publishers: [TestPublisher] = []
        for n in 1...participants {
            var o = TestSourceOptions()
            o.participant = n; o.size = Size(width: 320, height: 180); o.fps = publisherFps
            publishers.append(TestPublisher(url: "udp://127.0.0.1:\(udpPorts[n - 1])", options: o))
        }
        var slides = TestSourceOptions()
        slides.participant = 1; slides.size = Size(width: 1280, height: 720); slides.fps = 5
        let screenPort = udpPorts[participants]
        publishers.append(TestPublisher(url: "udp://127.0.0.1:\(screenPort)", options: slides))
        publishers.forEach { $0.start() }
        defer {
            publishers.forEach { $0.stop() }
            publishers.forEach { $0.join(timeout: .seconds(5)) }
        }
        say("\(t()) publishers: \(participants) cameras at 320x180@\(publisherFps) and the teacher's slides at 1280x720@5, "
            + "UDP MPEG-TS on 127.0.0.1:\(udpPorts.first!)…\(udpPorts.last!)")

        // 3. The room.
        for n in 1...participants {
            var streams = [ParticipantStream(kind: .camera, layers: [StreamLayer(width: 320, height: 180, fps: Double(publisherFps),
                                                                                 url: "udp://127.0.0.1:\(udpPorts[n - 1])")])]
            if n == 1 { streams.append(ParticipantStream(kind: .screen, layers: [StreamLayer(width: 1280, height: 720, fps: 5, url: "udp://127.0.0.1:\(screenPort)")])) }
            try await store.upsert(ParticipantInput(id: ParticipantID("p\(n)"), name: n == 1 ? "Teacher" : "Participant \(n)",
                                                    role: n == 1 ? .teacher : .student, sharesScreen: n == 1, streams: streams), in: "demo")
        }
        say("\(t()) room: \(participants) participants joined on the backend (p1 is the teacher, sharing slides)")

        // 4. The wall.
        var signalPolicy = StreamURLPolicy()
        var mediaConfig = MediaConfiguration()
        // The publishers are on loopback UDP: allow exactly that, through both gates.
        StreamGateOptions.apply(schemes: ["udp"], hosts: ["127.0.0.1"], to: &signalPolicy, media: &mediaConfig.policy)
        var config = KioskConfiguration(layoutPath: layout, room: .signal(SignalClientConfiguration(
            url: "ws://127.0.0.1:\(signalPort)/signal", room: "demo", wallID: "demo-wall", token: .value(wallToken), urlPolicy: signalPolicy)))
        let chosen: KioskConfiguration.Backend = backend == "auto" ? (DRMDevices.cards().isEmpty ? .headless : .drm)
            : KioskConfiguration.Backend(rawValue: backend)!
        config.backend = chosen
        config.renderer = renderer
        config.snapshotDirectory = out
        config.headlessFPS = fps
        config.healthAddress = "127.0.0.1:0"
        config.keyboard = .none
        config.handleSignals = true
        config.boundedShutdown = true
        config.media = mediaConfig
        let kiosk = try Kiosk(configuration: config)
        // Ctrl+C / SIGTERM stop the wall (its service group handles them); the script then ends
        // early and still cleans up and summarises.
        let wallStopped = StopFlag()
        let kioskTask = Task {
            defer { wallStopped.set() }
            try await kiosk.run()
        }
        struct Interrupted: Error {}
        let outputs = kiosk.outputs.map(\.id)
        say("\(t()) wall: \(outputs.count) outputs (\(outputs.joined(separator: ", "))), "
            + (chosen == .headless ? "headless at \(Int(fps)) fps, snapshots in \(out)/" : "on the displays (DRM/KMS), no snapshots")
            + ", \(renderer.rawValue) renderer")

        var timeline: [String] = []
        func holdFor(_ seconds: Double) async throws {
            let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
            while ContinuousClock.now < end {
                try await Task.sleep(for: min(.seconds(2), end - ContinuousClock.now))
                if wallStopped.isSet { throw Interrupted() }
                say("\(t())   \(kiosk.statusLine())")
            }
        }
        func keep(_ step: String) throws {
            // The live snapshots are at most a second old; copy them under this step's name.
            for o in outputs {
                let from = "\(out)/\(o).png", to = "\(out)/\(step)-\(o).png"
                try? FileManager.default.removeItem(atPath: to)
                try? FileManager.default.copyItem(atPath: from, toPath: to)
            }
            timeline.append("\(step): \(kiosk.statusLine())")
        }

        do {
        // Wait for the streams.
        let deadline = ContinuousClock.now + .milliseconds(Int64(startTimeout * 1000))
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .seconds(2))
            if wallStopped.isSet { throw Interrupted() }
            let s = kiosk.media.stats
            say("\(t())   \(kiosk.statusLine())")
            if s.streams.count >= participants && s.streams(in: .playing) >= s.streams.count * 95 / 100 { break }
        }
        try await holdFor(2)
        try keep("1-lecture")

        let steps: [(String, String, () async throws -> Void)] = [
            ("2-gallery", "teacher presses 2 (gallery)", { kiosk.press(KeyPress(keysym: "2")) }),
            ("3-hands", "three students raise hands; teacher presses 3 (hands first)", {
                for id in ["p17", "p42", "p230"] where Int(id.dropFirst())! <= participants {
                    try await store.setHand(ParticipantID(id), raised: true, in: "demo")
                }
                kiosk.press(KeyPress(keysym: "3"))
            }),
            ("4-discussion", "p42 speaks; teacher presses 4 (discussion: the speaker in the spotlight)", {
                try await store.setSpeaker(ParticipantID(participants >= 42 ? "p42" : "p2"), in: "demo")
                kiosk.press(KeyPress(keysym: "4"))
            }),
            ("5-spotlight", "teacher presses s twice (spotlight: the teacher, then the next participant)", {
                kiosk.press(KeyPress(keysym: "s")); kiosk.press(KeyPress(keysym: "s"))
            }),
            ("6-lecture", "the backend sends layout.set lecture (as a teacher's tablet would)", {
                _ = try await store.setLayout(preset: "lecture", in: "demo")
            }),
        ]
        for (name, what, action) in steps {
            say("\(t()) step \(name): \(what)")
            try await action()
            try await holdFor(hold)
            try keep(name)
        }
        } catch is Interrupted {
            say("\(t()) the wall was stopped (signal); ending the demo early")
        }

        // Stop and summarise.
        let metricsText = kiosk.healthPort != nil ? kiosk.metricsText() : ""
        let stats = kiosk.media.stats
        let figures = kiosk.metrics.outputFigures
        await kiosk.shutdown()
        _ = try? await kioskTask.value
        await backendGroup.triggerGracefulShutdown()
        _ = try? await backendTask.value
        let wallView = try? await store.view(of: "demo").walls.first

        var summary: [String] = []
        summary.append("Tessera demo: \(layout), \(participants) participants, \(Int((ContinuousClock.now - started).components.seconds)) s")
        summary.append("streams: \(stats.streams.count) open at the end, \(stats.streams(in: .playing)) playing, \(stats.streams(in: .stalled)) stalled, "
                       + "\(stats.streams(in: .offline)) offline; \(stats.framesDecoded) frames decoded, \(stats.reconnects) reconnects, "
                       + String(format: "%.0f", stats.fps) + " frames/s decoded at the end")
        let decode = stats.streams.map(\.decodeMs).filter { $0 > 0 }.sorted()
        if !decode.isEmpty { summary.append(String(format: "decode: median %.2f ms per frame", decode[decode.count / 2])) }
        for f in figures {
            summary.append(String(format: "output %@: %d frames presented, %d dropped, draw mean %.1f ms, max %.1f ms, %d snapshots written",
                                  f.id, f.framesPresented, f.framesDropped, f.meanFrameMs, f.frameSecondsMax * 1000, f.snapshotsWritten))
        }
        if let wallView {
            summary.append("backend saw: layout.changed \(wallView.layout.map { "\($0.preset) (\($0.source.rawValue))" } ?? "none"), "
                           + "\(wallView.subscriptions.count) subscriptions, last status preset \(wallView.status?.preset ?? "none")")
        }
        summary.append("timeline:")
        summary += timeline.map { "  " + $0 }
        let text = summary.joined(separator: "\n") + "\n"
        try text.write(toFile: "\(out)/summary.txt", atomically: true, encoding: .utf8)
        try metricsText.write(toFile: "\(out)/metrics.txt", atomically: true, encoding: .utf8)
        say("")
        say(text)
        say("snapshots: \(outputs.map { "\(out)/\($0).png" }.joined(separator: " ")) and \(out)/<step>-<output>.png per step; "
            + "summary: \(out)/summary.txt; Prometheus metrics at the end: \(out)/metrics.txt")
    }
}

final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

/// Loopback UDP ports nobody is bound to now (checked by binding each briefly), below the
/// kernel's ephemeral range: the publishers' own sending sockets get ephemeral ports, and one of
/// those must not take a port a stream is received on.
enum FreeUDPPorts {
    static func take(_ count: Int) throws -> [Int] {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) } ?? []
        let top = max(2048 + count * 2, min(range.first ?? 32768, 65536)) - 1
        let bottom = max(1024, top - 20000)
        var found: [Int] = []
        var port = Int.random(in: bottom...top)
        var tried = 0
        while found.count < count {
            tried += 1
            if tried > top - bottom { throw KioskError.unavailable("could not find \(count) free UDP ports on 127.0.0.1 in \(bottom)…\(top)") }
            port = port >= top ? bottom : port + 1
            if isFree(port) { found.append(port) }
        }
        return found.sorted()
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
