import ArgumentParser
import Foundation
import Logging
import Synchronization
import TesseraCore
import TesseraKiosk
import TesseraMedia

/// Latency inside the wall (issue 8, part 3): N live UDP streams into one 3840x2160 headless output
/// drawn by the kiosk's own render loop, timed per picture from its packet's arrival (and from the
/// publisher's stamp) to the moment a draw put it in the output buffer (`OutputLatency`).
struct LatencyBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "latency",
        abstract: "Time pictures from packet arrival (and capture stamp) to the output buffer, with N live streams.",
        discussion: """
            For each N: `tessera testsrc --replay` sends N loopback UDP MPEG-TS streams of one stamped clip (re-stamped \
            at each send), and the kiosk's own pipeline (Media, the CPU renderer, a headless 3840x2160 output paced at \
            --refresh) shows them in a grid. After --warmup seconds the histograms start afresh; after --window seconds \
            they are printed as Markdown.
            """)

    @Option(help: "Stream counts to run, comma-separated.") var streams: String = "1,64,250"
    @Option(help: "Frames per second of the streams.") var fps: Int = 15
    @Option(help: "Output refresh (frames per second of the headless output).") var refresh: Double = 60
    @Option(help: "Renderer: cpu or gles.") var renderer: RendererKind = .cpu
    @Option(help: "Seconds before measuring (streams open, first keyframes).") var warmup: Double = 6
    @Option(help: "Seconds measured per run.") var window: Double = 10
    @Option(help: "Runs per stream count; the table shows the run with the median arrival → buffer p99.") var runs: Int = 3
    @Option(help: "First UDP port; stream n uses this + n.") var basePort: Int = 24000
    @Option(help: "The layout (one output).") var layout: String = "tools/bench/live-4k-grid.json"
    @Option(help: "Where the generated clip is kept between runs.") var cache: String = "out/bench"

    func validate() throws {
        guard counts.count > 0, counts.allSatisfy({ (1...1000).contains($0) }) else { throw ValidationError("--streams: e.g. 1,64,250") }
        guard (1...60).contains(fps), refresh >= 1, refresh <= 240 else { throw ValidationError("--fps 1…60, --refresh 1…240") }
        guard (1...20).contains(runs) else { throw ValidationError("--runs 1…20") }
    }

    private var counts: [Int] { streams.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        bootstrapLogging(level: .warning)
        let clip = "\(cache)/latency-320x180-\(fps)fps-10s-moving.ts"
        if !FileManager.default.fileExists(atPath: clip) {
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            try runTessera(["testsrc", "--moving", "--fps", String(fps), "--seconds", "10", "--to", clip])
        }
        let refreshMs = 1000 / refresh
        print("latency inside the wall: N live UDP MPEG-TS streams of 320x180@\(fps) (one clip, `tessera testsrc --replay`, "
              + "re-stamped at each send) → kiosk pipeline → one 3840x2160 headless output at \(fmt(refresh)) Hz, \(renderer.rawValue) renderer; "
              + "\(runs) runs of \(fmt(window)) s per stream count, each after \(fmt(warmup)) s of warm-up; the run with the median "
              + "arrival → buffer p99 is shown, with that p99's range over the runs; \(ProcessInfo.processInfo.activeProcessorCount) cores. "
              + "Each picture counts once, when a draw first puts it in the output buffer. ms; HdrHistogram, 3 significant digits.")
        print("")
        print("| streams | pictures | arrival → decoded p50 / p99 | decoded → buffer p50 / p99 / max | arrival → buffer p50 / p99 / max | its p99 over \(runs) runs | capture → buffer p50 / p99 / max | dropped ticks | target: arrival → buffer p99 ≤ refresh + decode p99 |")
        print("|---:|---:|---|---|---|---:|---|---:|---|")
        for n in counts {
            var all: [Result] = []
            for i in 1...runs {
                let r = try measure(streams: n, clip: clip)
                FileHandle.standardError.write(Data("latency: \(n) streams, run \(i) of \(runs): arrival → buffer p99 \(r.latency.arrivalToBuffer.map { ms($0.p99) } ?? "–") ms; \(r.note)\n".utf8))
                all.append(r)
            }
            let p99s = all.map { $0.latency.arrivalToBuffer?.p99 ?? .infinity }
            let r = all.sorted { ($0.latency.arrivalToBuffer?.p99 ?? .infinity) < ($1.latency.arrivalToBuffer?.p99 ?? .infinity) }[all.count / 2]
            let a = r.latency.arrivalToBuffer, d = r.latency.arrivalToDecoded
            let bound = refreshMs + (d?.p99 ?? 0)
            let verdict = a.map { $0.p99 <= bound ? "met (\(ms($0.p99)) ≤ \(ms(bound)))" : "missed (\(ms($0.p99)) > \(ms(bound)))" } ?? "no pictures"
            print("| \(n) | \(a?.count ?? 0) | \(pair(d)) | \(triple(r.latency.decodedToBuffer)) | \(triple(a)) | \(ms(p99s.min()!))–\(ms(p99s.max()!)) "
                  + "| \(triple(r.latency.captureToBuffer)) | \(r.dropped) of \(r.ticks) | \(verdict) |")
        }
    }

    private struct Result {
        var latency: (arrivalToDecoded: LatencySummary?, decodedToBuffer: LatencySummary?, arrivalToBuffer: LatencySummary?, captureToBuffer: LatencySummary?)
        var dropped: Int
        var ticks: Int
        var note: String
    }

    private func measure(streams n: Int, clip: String) throws -> Result {
        let publisher = Process()
        publisher.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        publisher.arguments = ["testsrc", "--replay", clip, "--count", String(n), "--to", "udp://127.0.0.1:{n+\(basePort)}"]
        publisher.standardError = FileHandle.nullDevice
        try publisher.run()
        defer { publisher.terminate(); publisher.waitUntilExit() }

        var people = Room.synthetic(count: n).participants
        for i in people.indices {
            people[i].streams = [ParticipantStream(kind: .camera, layers: [StreamLayer(width: 320, height: 180, url: "udp://127.0.0.1:\(basePort + i + 1)")])]
        }
        var config = KioskConfiguration(layoutPath: layout, room: .local(Room(participants: people)))
        config.backend = .headless
        config.renderer = renderer
        config.headlessFPS = refresh
        config.healthAddress = nil
        config.keyboard = .none
        config.handleSignals = false
        config.media.policy.allowedSchemes.insert("udp")
        let kiosk: Kiosk
        do { kiosk = try Kiosk(configuration: config, logger: Logger(label: "bench.latency")) } catch {
            throw ValidationError("\(error)")
        }
        let warmup = self.warmup, window = self.window
        let outcome = Mutex<Result?>(nil)
        try blockingRun {
            let running = Task { try await kiosk.run() }
            try await Task.sleep(for: .milliseconds(Int64(warmup * 1000)))
            kiosk.metrics.resetLatency()
            let before = kiosk.metrics.outputFigures.first ?? OutputFigures(id: "")
            let cpu0 = Self.cpuSeconds()
            let t0 = ContinuousClock.now
            try await Task.sleep(for: .milliseconds(Int64(window * 1000)))
            let l = kiosk.metrics.latency.values.first ?? OutputLatency()
            let after = kiosk.metrics.outputFigures.first ?? OutputFigures(id: "")
            let elapsed = ContinuousClock.now - t0
            let cpu = (Self.cpuSeconds() - cpu0) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            let playing = kiosk.media.stats.streams(in: .playing)
            let frames = after.framesPresented - before.framesPresented, dropped = after.framesDropped - before.framesDropped
            outcome.withLock {
                $0 = Result(latency: (OutputLatency.summary(l.arrivalToDecoded), OutputLatency.summary(l.decodedToBuffer),
                                      OutputLatency.summary(l.arrivalToBuffer), OutputLatency.summary(l.captureToBuffer)),
                            dropped: dropped, ticks: frames + dropped,
                            note: "\(playing) playing, \(frames) frames presented, \(after.prepares - before.prepares) prepares, "
                                + "slowest prepare round \(Int(after.prepareSecondsMax * 1000)) ms, slowest present \(Int(after.frameSecondsMax * 1000)) ms, "
                                + "wall process CPU \(Int(cpu * 100))%")
            }
            await kiosk.shutdown()
            try await running.value
        }
        return outcome.withLock { $0! }
    }

    private static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    private func runTessera(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("tessera \(args.joined(separator: " ")) failed (\(p.terminationStatus))") }
    }

    private func fmt(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(format: "%.1f", v) }
    private func ms(_ v: Double) -> String { String(format: v < 10 ? "%.2f" : "%.1f", v) }
    private func pair(_ s: LatencySummary?) -> String { s.map { "\(ms($0.p50)) / \(ms($0.p99))" } ?? "–" }
    private func triple(_ s: LatencySummary?) -> String { s.map { "\(ms($0.p50)) / \(ms($0.p99)) / \(ms($0.max))" } ?? "–" }
}
