import ArgumentParser
import Foundation
import TesseraCore
import TesseraKiosk
import TesseraMedia
import TesseraRender
#if canImport(Glibc)
import Glibc
#endif

/// `tessera bench compose`: N copies of a clip decoded by Media and drawn into one headless
/// 3840x2160 BGRA buffer, every decoded frame of every stream in exactly one output frame, as fast
/// as it goes — the work `ffmpeg … scale + xstack` and GStreamer's `compositor` do with the same
/// files (tools/bench/compose.py runs the three side by side and writes BENCHMARKS.md).
struct ComposeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compose",
        abstract: "Decode N clips and compose every frame into one 3840x2160 BGRA output, unpaced: output frames/s, CPU, peak RSS.",
        discussion: """
            Streams play in lock-step (MediaConfiguration.lockstepFiles): an output frame is drawn once every \
            stream has a new frame, and a stream decodes its next frame only after the renderer took the last. \
            Tiles fill a square grid (4x4 for 16, 8x8 for 64, 16x16 for 250), no labels, like the peers' grids. \
            Prints one JSON line: output frames, wall and CPU seconds, peak RSS, and the split of the render \
            thread's time between waiting for decoders and drawing.
            """)

    @Option(help: "The clip every stream plays (a file; `tessera testsrc --moving --to FILE` makes one).") var clip: String
    @Option(help: "Streams (tiles).") var streams: Int = 16
    @Option(help: "The renderer: cpu or gles (headless EGL).") var renderer: RendererKind = .cpu
    @Option(help: "Output size WxH.") var size: String = "3840x2160"
    @Option(help: "Stop after this many output frames (default: the clip's end).") var frames: Int?
    @Option(help: "Give up, with a report of every stream's state, when no stream decodes a frame for this many seconds.")
    var stuckAfter: Int = 30

    func validate() throws {
        guard (1...1024).contains(streams) else { throw ValidationError("--streams must be between 1 and 1024") }
        guard FileManager.default.fileExists(atPath: clip) else { throw ValidationError("--clip: no file \(clip)") }
        guard (1...3600).contains(stuckAfter) else { throw ValidationError("--stuck-after must be between 1 and 3600 seconds") }
    }

    func run() throws {
        let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2 else { throw ValidationError("--size: WxH") }
        let out = Size(width: parts[0], height: parts[1])
        let columns = Int(Double(streams).squareRoot().rounded(.up))
        let rows = (streams + columns - 1) / columns
        let cellW = out.width / columns, cellH = out.height / rows
        let scene = OutputScene(id: "wall", size: out, rotation: .none, background: Color(red: 0, green: 0, blue: 0),
                                tiles: (0..<streams).map { i in
            Tile(participant: ParticipantID("c\(i)"), zone: "grid",
                 rect: Rect(x: (i % columns) * cellW, y: (i / columns) * cellH, width: cellW, height: cellH), fit: .cover,
                 background: Color(red: 0, green: 0, blue: 0))
        })

        let setup = try OutputFactory.headless([.init(id: scene.id, panelSize: out)], refresh: nil, renderer: renderer)
        defer { setup.close() }
        let drawer = setup.renderer, name = setup.rendererName
        let output = setup.backend.headlessOutputs[0]

        var config = MediaConfiguration()
        config.hardwareDecode = .off
        config.loopFiles = false; config.paceFiles = false; config.lockstepFiles = true
        config.mallocMmapThreshold = 128 << 10
        let engine = MediaEngine(configuration: config)
        defer { engine.shutdown() }
        let ids = (0..<streams).map { StreamID(ParticipantID("c\($0)")) }
        let clock = ContinuousClock()
        let cpu0 = cpuSeconds()
        let start = clock.now
        engine.update(desired: ids.map { StreamRequest(id: $0, url: clip, origin: .localConfig) })
        let boxes = ids.map { engine.mailbox(for: $0)! }

        var drawn = 0, partial = 0
        var waitTime = Duration.zero, drawTime = Duration.zero
        let limit = frames ?? Int.max
        // A benchmark never waits for ever: when no stream has decoded a frame for `stuckAfter`
        // seconds, it reports every stream's state and fails.
        var lastDecoded = -1, progressAt = clock.now
        while drawn < limit {
            let decoded = engine.stats.framesDecoded
            if decoded != lastDecoded { lastDecoded = decoded; progressAt = clock.now }
            if clock.now - progressAt > .seconds(stuckAfter) {
                let stuck = boxes.map { b in
                    let s = b.snapshot
                    return "  \(b.id): \(s.state.rawValue), \(s.framesDecoded) decoded, untaken frame: \(b.hasUntakenFrame)\(s.lastError.map { ", last error: \($0)" } ?? "")"
                }
                FileHandle.standardError.write(Data(("bench compose: no stream decoded a frame for \(stuckAfter) s after \(drawn) output frames; " +
                    "streams:\n\(stuck.joined(separator: "\n"))\n").utf8))
                throw ExitCode(3)
            }
            // Wait until every stream has a frame the renderer has not drawn, or the files ended.
            let w0 = clock.now
            var ended = false
            while true {
                if boxes.allSatisfy(\.hasUntakenFrame) { break }
                if engine.allFinished { ended = true; break }
                if clock.now - w0 > .seconds(5) { break } // a stuck stream: draw what there is
                usleep(50)
            }
            waitTime += clock.now - w0
            let fresh = boxes.filter(\.hasUntakenFrame).count
            if ended && fresh == 0 { break }
            if fresh < streams { partial += 1 }
            let d0 = clock.now
            guard let target = try output.nextBuffer() else { throw ExitCode(1) }  // headless always has one
            _ = try drawer.draw(scene, sources: engine, into: target)
            try output.commit()
            drawer.finish()
            drawTime += clock.now - d0
            drawn += 1
        }
        let wall = (clock.now - start).secs
        let cpu = cpuSeconds() - cpu0
        let stats = engine.stats
        func r(_ v: Double) -> String { String(format: "%.3f", v) }
        print(#"{"renderer":"\#(name)","streams":\#(streams),"output":"\#(out.width)x\#(out.height)","frames":\#(drawn),"#
              + #""partial_frames":\#(partial),"decoded":\#(stats.framesDecoded),"errors":\#(stats.errors),"#
              + #""wall_s":\#(r(wall)),"cpu_s":\#(r(cpu)),"fps":\#(r(Double(drawn) / max(wall, 1e-9))),"#
              + #""render_wait_s":\#(r(waitTime.secs)),"render_draw_s":\#(r(drawTime.secs)),"max_rss_kib":\#(maxRSS())}"#)
    }

    private func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    private func maxRSS() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss
    }
}

private extension Duration {
    var secs: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
