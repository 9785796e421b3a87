import Foundation
import Testing
import TesseraCore
import TesseraRender

/// Figures, not asserts: run with TESSERA_BENCH=1 (release build recommended) to print them.
@Suite("Render benchmark", .enabled(if: ProcessInfo.processInfo.environment["TESSERA_BENCH"] == "1", "set TESSERA_BENCH=1 to measure"))
struct RenderBenchmark {
    /// 250 placeholder streams on a 16 x 16 grid of 232x130 tiles (320x180 frames scaled down).
    struct Wall {
        let frames: [PlanarFrame]
        let sources: [StillFrameSource]
        let scene: OutputScene
        let table: FrameSourceTable
        init() {
            let text = TextCache(fonts: Fixtures.fonts)
            frames = (0..<250).map { Placeholder.participant(number: $0 + 1, text: text) }
            sources = frames.map { StillFrameSource($0) }
            var tiles: [Tile] = []
            for i in 0..<250 {
                let col = i % 16, row = i / 16
                tiles.append(Tile(participant: ParticipantID("p\(i)"), zone: "grid",
                                  rect: Rect(x: col * 240, y: row * 135, width: 232, height: 130), fit: .cover,
                                  background: Fixtures.tileBackground, label: Label(text: "Participant \(i + 1)", position: .bottomLeft, size: 14)))
            }
            scene = OutputScene(id: "wall", size: Size(width: 3840, height: 2160), rotation: .none, background: Fixtures.background, tiles: tiles)
            let s = sources
            table = FrameSourceTable(Dictionary(uniqueKeysWithValues: (0..<250).map { (StreamID(ParticipantID("p\($0)")), s[$0] as any FrameSource) }))
        }
        /// Every stream delivers a new frame (the same pixels, a new object): the worst case.
        func deliverAll(round n: Int) {
            for (i, s) in sources.enumerated() {
                let f = frames[(i + n) % 250]
                s.deliver(PlanarFrame(size: f.size, format: .yuv420p, planes: (0..<3).map { p in f.withPlane(p) { span in span.withUnsafeBytes { Array($0) } } }))
            }
        }
    }

    static func ms(_ d: Duration) -> Double { Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000 }
    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    @Test("CPU renderer: 250 320x180 tiles on 3840x2160, every tile with a new frame")
    func cpuWall() throws {
        let wall = Wall()
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        let target = MemoryBuffer(size: wall.scene.size)
        _ = try renderer.draw(wall.scene, sources: wall.table, into: target)
        let clock = ContinuousClock()
        var samples: [Double] = []
        for n in 0..<20 {
            wall.deliverAll(round: n)
            samples.append(Self.ms(clock.measure { _ = try? renderer.draw(wall.scene, sources: wall.table, into: target) }))
        }
        samples.sort()
        let idle = clock.measure { _ = try? renderer.draw(wall.scene, sources: wall.table, into: target) }
        print("cpu-wall: 250 tiles 320x180 → 232x130 on 3840x2160, \(renderer.workers) workers: median \(Self.f(samples[10])) ms, min \(Self.f(samples[0])) ms; nothing new: \(Self.f(Self.ms(idle))) ms")
    }

    @Test("GLES renderer (headless EGL, llvmpipe here): the same wall, glFinish per frame")
    func glesWall() throws {
        let wall = Wall()
        let renderer = try GLESRenderer(fonts: Fixtures.fonts)
        let target = try renderer.makeOffscreenTarget(size: wall.scene.size)
        _ = try renderer.draw(wall.scene, sources: wall.table, into: target)
        renderer.finish()
        let clock = ContinuousClock()
        var samples: [Double] = []
        for n in 0..<10 {
            wall.deliverAll(round: n)
            samples.append(Self.ms(clock.measure { _ = try? renderer.draw(wall.scene, sources: wall.table, into: target); renderer.finish() }))
        }
        samples.sort()
        let idle = clock.measure { _ = try? renderer.draw(wall.scene, sources: wall.table, into: target); renderer.finish() }
        print("gles-wall: 250 tiles 320x180 → 232x130 on 3840x2160, \(renderer.rendererName): median \(Self.f(samples[5])) ms, min \(Self.f(samples[0])) ms; nothing new (textures kept, full redraw): \(Self.f(Self.ms(idle))) ms")
    }
}
