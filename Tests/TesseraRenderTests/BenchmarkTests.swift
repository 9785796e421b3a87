import Foundation
import Testing
import TesseraCore
import TesseraRender

/// Figures, not asserts: run with TESSERA_BENCH=1 (release build recommended) to print them.
@Suite("Render benchmark", .enabled(if: ProcessInfo.processInfo.environment["TESSERA_BENCH"] == "1", "set TESSERA_BENCH=1 to measure"))
struct RenderBenchmark {
    @Test("CPU renderer: 250 320x180 tiles on 3840x2160, every tile with a new frame")
    func cpuWall() throws {
        let text = TextCache(fonts: Fixtures.fonts)
        let frames = (0..<250).map { Placeholder.participant(number: $0 + 1, text: text) }
        let sources = (0..<250).map { StillFrameSource(frames[$0]) }
        var tiles: [Tile] = []
        for i in 0..<250 {
            let col = i % 16, row = i / 16   // 16 x 16 grid of 232x130 tiles (scaled from 320x180)
            tiles.append(Tile(participant: ParticipantID("p\(i)"), zone: "grid",
                              rect: Rect(x: col * 240, y: row * 135, width: 232, height: 130), fit: .cover,
                              background: Fixtures.tileBackground, label: Label(text: "Participant \(i + 1)", position: .bottomLeft, size: 14)))
        }
        let scene = OutputScene(id: "wall", size: Size(width: 3840, height: 2160), rotation: .none, background: Fixtures.background, tiles: tiles)
        let table = FrameSourceTable(Dictionary(uniqueKeysWithValues: (0..<250).map { (StreamKey(ParticipantID("p\($0)")), sources[$0] as any FrameSource) }))
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        let target = MemoryBuffer(size: scene.size)
        _ = try renderer.draw(scene, sources: table, into: target)
        let clock = ContinuousClock()
        var samples: [Double] = []
        for n in 0..<20 {
            // Every stream delivers a new frame (the same pixels, a new object): the worst case.
            for (i, s) in sources.enumerated() { s.deliver(PlanarFrame(size: frames[i].size, format: .yuv420p, planes: planeCopies(frames[(i + n) % 250]))) }
            let t = clock.measure { _ = try? renderer.draw(scene, sources: table, into: target) }
            samples.append(Double(t.components.attoseconds) / 1e15 + Double(t.components.seconds) * 1000)
        }
        samples.sort()
        let idle = clock.measure { _ = try? renderer.draw(scene, sources: table, into: target) }
        print("cpu-wall: 250 tiles 320x180 → 232x130 on 3840x2160, \(renderer.workers) workers: median \(String(format: "%.1f", samples[10])) ms, min \(String(format: "%.1f", samples[0])) ms; nothing new: \(idle)")
    }

    private func planeCopies(_ f: PlanarFrame) -> [[UInt8]] {
        (0..<3).map { i in f.withPlane(i) { span in span.withUnsafeBytes { Array($0) } } }
    }
}
