import ArgumentParser
import Foundation
import Logging
import TesseraCore
import TesseraMedia
import TesseraTestMedia
#if canImport(Glibc)
import Glibc
#endif

/// The media part's subcommands (`testsrc`, `probe`), listed in `tessera --help`.
let mediaCommands: [any ParsableCommand.Type] = [TestSrc.self, Probe.self]

/// Media's logger for a command: standard error, masked. `quiet`: what still shows without
/// --verbose (probe prints its own report, so only errors).
private func stderrLogger(verbose: Bool, quiet: Logger.Level = .warning) -> Logger {
    var logger = Logger(label: "tessera.media") { RedactingLogHandler(StreamLogHandler.standardError(label: $0)) }
    logger.logLevel = verbose ? .debug : quiet
    return logger
}

private func parseSize(_ s: String) throws -> Size {
    let parts = s.lowercased().split(separator: "x").compactMap { Int($0) }
    guard parts.count == 2, parts[0] >= 16, parts[1] >= 16, parts[0] % 2 == 0, parts[1] % 2 == 0 else {
        throw ValidationError("--size must be WxH with even numbers of at least 16 (e.g. 320x180), not \"\(s)\"")
    }
    return Size(width: parts[0], height: parts[1])
}

/// Exit codes: 0 done; 1 a publisher failed (the message names the call and URL).
struct TestSrc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testsrc",
        abstract: "Publish a synthetic participant stream (libx264) over UDP/SRT/TCP MPEG-TS, or write a clip file.",
        discussion: """
        Each participant gets its own colour and number; every frame carries a frame counter and a capture \
        timestamp (H.264 SEI), which `tessera probe` and the tests read back.
        --replay sends a clip made by testsrc instead of encoding (far cheaper: hundreds of streams from one \
        process), rewriting each picture's stamp with the participant, a running frame counter and the send \
        time, so its "capture" time is when the picture left, not when it was encoded.
        Examples: tessera testsrc --to udp://127.0.0.1:5000 --participant 3
                  tessera testsrc --to 'srt://127.0.0.1:9000?mode=listener' --seconds 60
                  tessera testsrc --to out/clip.ts --seconds 10
                  tessera testsrc --replay out/clip.ts --to 'udp://127.0.0.1:{n+20000}' --count 250
        """)

    @Option(help: "Where to send: udp://HOST:PORT, srt://HOST:PORT?mode=caller|listener, tcp://HOST:PORT, or a file (.ts, .mp4, .mkv). With --count, {n} is replaced by the participant number and {n+K} by n+K.")
    var to: String
    @Option(help: "Participant number (colour and big digits); with --count, the first one.") var participant: Int = 1
    @Option(help: "Publish this many participants (--participant, the next, …), each to its own --to URL.") var count: Int = 1
    @Option(help: "With --count: spread the streams' first frames over this many seconds, as independent cameras' (so their keyframes do not all come at once).")
    var spread: Double = 1
    @Option(help: "Send this MPEG-TS clip (from `tessera testsrc --to clip.ts`), looped, with rewritten stamps, instead of encoding.") var replay: String?
    @Option(help: "Picture size WxH (not with --replay).") var size: String = "320x180"
    @Option(help: "Frames per second (not with --replay).") var fps: Int = 30
    @Option(help: "Stop after this many seconds (default: run until interrupted; 10 for files).") var seconds: Double?
    @Option(help: "Frames between keyframes (default: one second).") var gop: Int?
    @Option(help: "Bitrate in kbit/s (default: by size).") var kbps: Int?
    @Flag(help: "Scrolling, grainy background: every macroblock changes every frame, as with a camera.") var moving = false

    func validate() throws {
        _ = try parseSize(size)
        guard (1...240).contains(fps) else { throw ValidationError("--fps must be between 1 and 240") }
        guard participant >= 0 else { throw ValidationError("--participant must not be negative") }
        if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
        guard (1...10_000).contains(count) else { throw ValidationError("--count must be between 1 and 10000") }
        guard spread >= 0 else { throw ValidationError("--spread must not be negative") }
        if count > 1 && !URLTemplate.isNumbered(to) {
            throw ValidationError("--count \(count) needs a --to with {n} or {n+K} in it, so that each participant has its own URL")
        }
        if let replay {
            if gop != nil || kbps != nil || moving { throw ValidationError("--gop, --kbps and --moving set the encoder; --replay sends the clip as it was encoded") }
            guard FileManager.default.isReadableFile(atPath: replay) else { throw ValidationError("--replay: cannot read \(replay)") }
        }
    }

    func run() throws {
        var o = TestSourceOptions()
        o.participant = participant; o.size = try parseSize(size); o.fps = fps; o.gop = gop; o.bitrateKbps = kbps; o.moving = moving
        o.replay = replay
        let urls = (participant..<(participant + count)).map { URLTemplate.expand(to, n: $0) }
        let isFile = !to.contains("://") || to.hasPrefix("file:")
        o.seconds = seconds ?? (isFile ? 10 : nil)
        if isFile {
            for url in urls {
                let dir = (url as NSString).deletingLastPathComponent
                if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            }
        }
        let what = replay.map { "replaying \($0) to" } ?? "publishing"
        let streams = count == 1 ? "1 stream" : "\(count) streams"
        let range = count == 1 ? urls[0] : "\(urls[0]) … \(urls[urls.count - 1])"
        FileHandle.standardError.write(Data("tessera testsrc: \(what) \(streams) \(range)\n".utf8))
        if count == 1 {
            do { try TestPublisher(url: urls[0], options: o).run() } catch {
                FileHandle.standardError.write(Data("tessera testsrc: \(error)\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        // Each publisher on its own thread. Like the single stream, SIGINT/SIGTERM end the process
        // (their default action); a publisher that fails stops the others and the command.
        let publishers = TestPublisher.startMany(urlTemplate: to, count: count, first: participant, options: o, spread: spread)
        var failed: [TestPublisher] = []
        while true {
            failed = publishers.filter { $0.error != nil }
            if !failed.isEmpty || publishers.allSatisfy({ $0.join(timeout: .zero) }) { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        for p in publishers { p.stop() }
        for p in publishers { p.join() }
        for p in publishers { if let e = p.error { FileHandle.standardError.write(Data("tessera testsrc: \(e)\n".utf8)) } }
        if publishers.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}

/// Exit codes: 0 the stream played; 1 it did not (state and last error are printed); 2 the URL policy refused it.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a stream URL exactly as the wall would and report what happens.",
        discussion: """
        Same URL policy, options, timeouts and recovery as a tile: prints state, codec, size, fps, bitrate, \
        time to first frame, reconnects and errors. What to run when a tile stays dark.
        """)

    @Argument(help: "The stream URL (rtsp, rtsps, srt, udp, rtp, tcp, rtmp; with --local also a file).") var url: String
    @Option(help: "How long to watch the stream.") var seconds: Double = 5
    @Flag(help: "Treat the URL as local configuration (allows files) instead of a participant URL from the network.") var local = false
    @Option(name: .customLong("allow-host"), help: "Restrict hosts as the wall's configuration does (repeatable).") var allowHosts: [String] = []
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Log FFmpeg's and Media's messages to standard error.") var verbose = false

    func validate() throws {
        guard seconds > 0 && seconds <= 3600 else { throw ValidationError("--seconds must be between 0 and 3600") }
    }

    func run() throws {
        var config = MediaConfiguration()
        if !allowHosts.isEmpty { config.policy.allowedHosts = Set(allowHosts) }
        let engine = MediaEngine(configuration: config, logger: stderrLogger(verbose: verbose, quiet: .error))
        defer { engine.shutdown() }
        let id = StreamID("probe")
        let refused = engine.update(desired: [StreamRequest(id: id, url: url, origin: local ? .localConfig : .network)])
        if let error = refused[id] {
            if json { print(#"{"state":"refused","error":\#(jsonString(error.description))}"#) } else { print(error.description) }
            throw ExitCode(2)
        }
        let box = engine.mailbox(for: id)!
        let end = Date().addingTimeInterval(seconds)
        var stamped: TestStamp?
        while Date() < end {
            Thread.sleep(forTimeInterval: 0.05)
            if let s = box.latestDecodedFrame()?.stamp { stamped = s }
        }
        let s = box.snapshot
        let lat = box.latency
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(s), as: UTF8.self))
        } else {
            func ms(_ v: Double?) -> String { v.map { String(format: "%.1f ms", $0) } ?? "-" }
            print("url:          \(s.url)")
            print("state:        \(s.state.rawValue)")
            print("codec:        \(s.codec ?? "-")\(s.hardware ? " (VAAPI)" : "")")
            print("size:         \(s.width.map { "\($0)x\(s.height ?? 0)" } ?? "-")")
            print(String(format: "fps:          %.1f   kbps: %.0f", s.fps, s.kbps))
            print("first frame:  \(ms(s.timeToFirstFrameMs))")
            print(String(format: "decode:       %.2f ms mean, p99 %@", s.decodeMs, ms(lat.decode.percentile(0.99))))
            if lat.endToEnd.count > 0 {
                print("capture→tile: p50 \(ms(lat.endToEnd.percentile(0.5))), p99 \(ms(lat.endToEnd.percentile(0.99))) (test source stamps)")
            }
            if let stamped { print("test source:  participant \(stamped.participant), frame \(stamped.frame)") }
            print("frames:       \(s.framesDecoded) decoded, \(s.framesCorrupt) corrupt, \(s.packetsSkipped) packets skipped before a keyframe")
            print("reconnects:   \(s.reconnects)   errors: \(s.errors)")
            if let e = s.lastError { print("last error:   \(e)") }
        }
        if s.framesDecoded == 0 { throw ExitCode(1) }
    }

    private func jsonString(_ s: String) -> String {
        String(decoding: (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}

/// `tessera bench media`: the engine's decode cost beside `ffmpeg -f null` on the same clips (the
/// floor), resident memory per stream, and packet-to-mailbox latency on live loopback streams.
/// Figures are from one run on a shared machine: compare the columns, not other runs.
struct MediaBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "media",
        abstract: "Decode N streams of 320x180 at once: frames/s, CPU per frame vs ffmpeg, memory per stream, latency.")

    @Option(help: "Stream counts to run, comma-separated.") var streams: String = "16,64,250"
    @Option(help: "Length of the generated clip in seconds (30 fps).") var seconds: Double = 10
    @Option(help: "Where generated clips are kept between runs.") var cache: String = "out/bench"
    @Option(help: "Live UDP streams for the latency measurement (0 to skip).") var latencyStreams: Int = 64
    @Option(help: "Seconds of live streaming for the latency measurement.") var latencySeconds: Double = 6
    @Option(help: "Clip content: moving (scrolling, grainy: a camera's decode work) or static (flat background).")
    var pattern: String = "moving"
    @Option(help: "malloc mmap threshold in bytes (MediaConfiguration.mallocMmapThreshold); 0: glibc's sliding default.")
    var mallocMmapThreshold: Int = 128 << 10
    @Option(help: .hidden) var memoryChild: Int?
    @Option(help: .hidden) var clip: String?
    @Option(help: .hidden) var memoryFanout: String?

    func run() throws {
        if let n = memoryChild, let clip { return try memoryRun(clip: clip, streams: n, fanout: memoryFanout) }
        let counts = streams.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 && $0 <= 1000 }) else { throw ValidationError("--streams: e.g. 16,64,250") }
        guard pattern == "moving" || pattern == "static" else { throw ValidationError("--pattern: moving or static") }
        guard (0...1000).contains(latencyStreams) else { throw ValidationError("--latency-streams: 0 to 1000") }
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let clip = (cache as NSString).appendingPathComponent("clip-320x180-30fps-\(Int(seconds))s-\(pattern).ts")
        if !FileManager.default.fileExists(atPath: clip) {
            var o = TestSourceOptions()
            o.size = Size(width: 320, height: 180); o.fps = 30; o.seconds = seconds; o.participant = 5
            o.moving = pattern == "moving"
            try TestPublisher(url: clip, options: o).run()
        }
        let frames = Int((seconds * 30).rounded())
        let ffmpeg = ["/usr/bin/ffmpeg", "/usr/local/bin/ffmpeg"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let kbps = Double(((try? FileManager.default.attributesOfItem(atPath: clip)[.size]) as? Int) ?? 0) * 8 / 1000 / seconds
        print("media decode, 320x180 H.264 (libx264 ultrafast, \(pattern), \(Int(kbps)) kbit/s, \(frames) frames), \(clip); " +
              "\(ProcessInfo.processInfo.activeProcessorCount) cores; malloc mmap threshold \(mallocMmapThreshold == 0 ? "glibc's sliding default" : "\(mallocMmapThreshold >> 10) KiB")")
        print("| streams | engine frames/s | engine CPU µs/frame | ffmpeg frames/s | ffmpeg CPU µs/frame | engine/ffmpeg CPU | RSS MiB/stream, UDP | RSS MiB/stream, file |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in counts {
            let e = try engineRun(clip: clip, streams: n)
            let f = ffmpeg.map { ffmpegRun($0, clip: clip, streams: n) } ?? nil
            let total = Double(e.frames)
            let eCPU = e.cpu / total * 1e6
            var row = "| \(n) | \(Int(total / e.wall)) | \(String(format: "%.0f", eCPU)) | "
            if let f {
                let fTotal = Double(n * frames)
                let fCPU = f.cpu / fTotal * 1e6
                row += "\(Int(fTotal / f.wall)) | \(String(format: "%.0f", fCPU)) | \(String(format: "%.2f", eCPU / fCPU)) | "
            } else {
                row += "- | - | - | "
            }
            row += memoryPerStream(clip: clip, streams: n, fanout: ffmpeg).map { String(format: "%.2f | ", $0 / 1048576) } ?? "- | "
            row += memoryPerStream(clip: clip, streams: n, fanout: nil).map { String(format: "%.2f |", $0 / 1048576) } ?? "- |"
            print(row)
            if e.frames != n * frames { print("  note: engine decoded \(e.frames) of \(n * frames) frames (errors \(e.errors))") }
        }
        print("RSS/stream: a fresh process plays 1 stream, then N more; (RSS with N+1 − RSS with 1) / N, the highest of 8 samples over 2 s. " +
              "UDP: the clip looped by one `ffmpeg -re -c copy -f tee` process to N+1 loopback MPEG-TS streams (the live path: no parser); " +
              "file: N+1 paced, looping file streams (libavformat's H.264 parser on).")
        if ffmpeg == nil { print("ffmpeg columns skipped: no ffmpeg CLI in /usr/bin or /usr/local/bin (apt-get install ffmpeg)") }
        if latencyStreams > 0 { try latencyRun() }
    }

    private func cpuSeconds(_ who: __rusage_who) -> Double {
        var u = rusage()
        getrusage(who.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    private func rss() -> Int {
        guard let t = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let l = t.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return (Int(l.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    private func configuration() -> MediaConfiguration {
        var config = MediaConfiguration()
        config.hardwareDecode = .off
        config.mallocMmapThreshold = mallocMmapThreshold > 0 ? mallocMmapThreshold : nil
        return config
    }

    /// Runs this command again as `--memory-child N` and reads its answer: bytes per stream.
    private func memoryPerStream(clip: String, streams n: Int, fanout: String?) -> Double? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = ["bench", "media", "--memory-child", String(n), "--clip", clip, "--malloc-mmap-threshold", String(mallocMmapThreshold)]
            + (fanout.map { ["--memory-fanout", $0] } ?? [])
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { return nil }
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return out.split(separator: "\n").last.flatMap { Double($0) }
    }

    /// In a fresh process: the resident memory each open, playing stream adds at steady state.
    private func memoryRun(clip: String, streams n: Int, fanout ffmpeg: String?) throws {
        let engine = MediaEngine(configuration: configuration())
        defer { engine.shutdown() }
        let base = Int.random(in: 10_000...30_000) & ~0x3ff // below the ephemeral ports (32768–)
        var sender: Process?
        if let ffmpeg {
            // One process sends the clip (looped, real time, no re-encode) to n+1 loopback ports.
            let p = Process()
            p.executableURL = URL(fileURLWithPath: ffmpeg)
            let outs = (0...n).map { "[f=mpegts:onfail=ignore]udp://127.0.0.1:\(base + $0)?pkt_size=1316" }.joined(separator: "|")
            // -t: ends on its own even if this process is killed before it can stop it.
            p.arguments = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1", "-i", clip, "-t", "300",
                           "-map", "0:v", "-c", "copy", "-f", "tee", outs]
            try p.run()
            sender = p
        }
        defer { if let sender { sender.terminate(); sender.waitUntilExit() } }
        func request(_ i: Int) -> StreamRequest {
            StreamRequest(id: StreamID(ParticipantID("m\(i)")), url: ffmpeg == nil ? clip : "udp://127.0.0.1:\(base + i)",
                          origin: ffmpeg == nil ? .localConfig : .network)
        }
        func settle(_ count: Int) -> Int {
            _ = wait(seconds: 60) { engine.stats.streams(in: .playing) + engine.stats.streams(in: .stalled) >= count }
            Thread.sleep(forTimeInterval: 1)
            var peak = 0
            for _ in 0..<8 { peak = max(peak, rss()); Thread.sleep(forTimeInterval: 0.25) }
            return peak
        }
        engine.update(desired: [request(0)])
        let one = settle(1)
        engine.update(desired: (0...n).map(request))
        let all = settle(n + 1)
        print(Double(all - one) / Double(n))
    }

    private func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end { if condition() { return true }; Thread.sleep(forTimeInterval: 0.05) }
        return condition()
    }

    private func engineRun(clip: String, streams n: Int) throws -> (frames: Int, cpu: Double, wall: Double, rssGrowth: Int, errors: Int) {
        var config = configuration()
        config.loopFiles = false; config.paceFiles = false
        let engine = MediaEngine(configuration: config)
        let baseline = rss()
        let cpu0 = cpuSeconds(RUSAGE_SELF)
        let start = ContinuousClock.now
        engine.update(desired: (0..<n).map { StreamRequest(id: StreamID(ParticipantID("b\($0)")), url: clip, origin: .localConfig) })
        var peak = baseline
        while !engine.allFinished { Thread.sleep(forTimeInterval: 0.02); peak = max(peak, rss()) }
        let wall = (ContinuousClock.now - start)
        let cpu = cpuSeconds(RUSAGE_SELF) - cpu0
        let stats = engine.stats
        engine.shutdown()
        let w = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        return (stats.framesDecoded, cpu, w, peak - baseline, stats.errors)
    }

    private func ffmpegRun(_ path: String, clip: String, streams n: Int) -> (cpu: Double, wall: Double)? {
        var args = ["-hide_banner", "-loglevel", "error", "-nostdin"]
        for _ in 0..<n { args += ["-threads", "1", "-i", clip] }
        for i in 0..<n { args += ["-map", "\(i):v"] }
        args += ["-f", "null", "-"]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let cpu0 = cpuSeconds(RUSAGE_CHILDREN)
        let start = Date()
        do { try p.run() } catch { return nil }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return (cpuSeconds(RUSAGE_CHILDREN) - cpu0, Date().timeIntervalSince(start))
    }

    /// Live 320x180@30 UDP streams from in-process publishers: read → mailbox beyond decode, and
    /// capture → mailbox (an upper bound on arrival → mailbox: it also holds encode and send).
    private func latencyRun() throws {
        let base = Int.random(in: 10_000...(31_000 - latencyStreams)) // below the ephemeral ports (32768–)
        var publishers: [TestPublisher] = []
        var requests: [StreamRequest] = []
        for i in 0..<latencyStreams {
            var o = TestSourceOptions()
            o.participant = i + 1; o.size = Size(width: 320, height: 180); o.fps = 30 // static: 64 moving encoders would take both cores
            let p = TestPublisher(url: "udp://127.0.0.1:\(base + i)", options: o)
            publishers.append(p)
            requests.append(StreamRequest(id: StreamID(ParticipantID("l\(i)")), url: "udp://127.0.0.1:\(base + i)", origin: .network))
        }
        let engine = MediaEngine(configuration: configuration())
        defer { engine.shutdown(); for p in publishers { p.stop() }; for p in publishers { p.join() } }
        engine.update(desired: requests)
        for p in publishers { p.start() }
        Thread.sleep(forTimeInterval: 1.5) // connect and settle, then measure from fresh histograms
        var before: [StreamID: Int] = [:]
        for r in requests { before[r.id] = engine.mailbox(for: r.id)?.latency.handoff.count ?? 0 }
        Thread.sleep(forTimeInterval: latencySeconds)
        var handoff = LatencyHistogram(), decode = LatencyHistogram(), e2e = LatencyHistogram()
        for r in requests {
            guard let l = engine.mailbox(for: r.id)?.latency else { continue }
            handoff.merge(l.handoff); decode.merge(l.decode); e2e.merge(l.endToEnd)
        }
        let stats = engine.stats
        func ms(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "-" }
        print("")
        print("live latency, \(latencyStreams) UDP MPEG-TS streams of 320x180@30 on loopback (publishers in-process, \(stats.streams(in: .playing)) playing, \(Int(stats.fps)) frames/s):")
        print("| measure | p50 ms | p99 ms |")
        print("|---|---:|---:|")
        print("| decode (send packet + receive picture) | \(ms(decode.percentile(0.5))) | \(ms(decode.percentile(0.99))) |")
        print("| packet read → frame in mailbox, beyond decode | \(ms(handoff.percentile(0.5))) | \(ms(handoff.percentile(0.99))) |")
        print("| capture → frame in mailbox (incl. encode, mux, UDP, demux, decode) | \(ms(e2e.percentile(0.5))) | \(ms(e2e.percentile(0.99))) |")
    }
}
