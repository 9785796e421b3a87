import Foundation
import Testing
import TesseraCore
import TesseraOutput
import TesseraRender

@Suite("CPU renderer")
struct CPURendererTests {
    @Test("mixed scene matches its golden", arguments: Rotation.allCases)
    func golden(rotation: Rotation) throws {
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        let (scene, sources) = Fixtures.mixedScene(rotation: rotation)
        let target = MemoryBuffer(size: Fixtures.panelSize(of: scene))
        let stats = try renderer.draw(scene, sources: sources, into: target)
        #expect(stats.fullRedraw && stats.tilesDrawn == scene.tiles.count)
        let viewed = MemoryBuffer.copy(of: target).unrotated(rotation)
        // Every rotation shows the viewer the same kind of picture; each has its own golden.
        try Golden.check(viewed, "cpu-mixed-\(rotation.rawValue)")
    }

    @Test("only tiles with a new frame or decoration are drawn again, per target")
    func dirtyTiles() throws {
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        var (scene, sources) = Fixtures.mixedScene()
        let a = MemoryBuffer(size: scene.size), b = MemoryBuffer(size: scene.size)
        #expect(try renderer.draw(scene, sources: sources, into: a).fullRedraw)
        #expect(try renderer.draw(scene, sources: sources, into: a).tilesDrawn == 0)
        // A second buffer (double buffering) has its own history.
        #expect(try renderer.draw(scene, sources: sources, into: b).fullRedraw)

        // A new frame for p2: p2 is drawn again, nothing else (p2 overlaps no later tile).
        let p2 = sources.source(for: StreamID("p2")) as! StillFrameSource
        p2.deliver(Placeholder.colorBars(size: Size(width: 128, height: 96), format: .nv12, matrix: .bt601, range: .limited))
        var stats = try renderer.draw(scene, sources: sources, into: a)
        #expect(stats.tilesDrawn == 1 && stats.framesConverted == 1 && !stats.fullRedraw)

        // A highlight on p1: p1 again, and the empty zone drawn over it.
        scene.tiles[0].highlight = Highlight(reason: .activeSpeaker, width: 4, color: Fixtures.speaker)
        stats = try renderer.draw(scene, sources: sources, into: a)
        #expect(stats.tilesDrawn == 2 && stats.framesConverted == 0)

        // The incremental picture equals a full redraw of the same state.
        let fresh = MemoryBuffer(size: scene.size)
        _ = try CPURenderer(fonts: Fixtures.fonts).draw(scene, sources: sources, into: fresh)
        let same = a.bytes == fresh.bytes
        #expect(same, "incremental and full redraw differ")
    }

    @Test("a stream going offline shows the slate; coming back shows the picture")
    func offlineSlate() throws {
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        let (scene, sources) = Fixtures.mixedScene()
        let target = MemoryBuffer(size: scene.size)
        _ = try renderer.draw(scene, sources: sources, into: target)
        let before = target.bytes
        let p3 = sources.source(for: StreamID("p3")) as! StillFrameSource
        p3.deliver(Placeholder.colorBars(size: Size(width: 64, height: 36), format: .yuv420p, matrix: .bt709, range: .limited), state: .playing)
        #expect(try renderer.draw(scene, sources: sources, into: target).tilesDrawn == 1)
        let changed = target.bytes != before
        #expect(changed)
        p3.deliver(nil, state: .offline)
        _ = try renderer.draw(scene, sources: sources, into: target)
        let restored = target.bytes == before
        #expect(restored, "the slate is drawn again as before")
    }

    @Test("colour bars convert to their RGB values", arguments: ColorMatrix.allCases, ColorRange.allCases)
    func colorBars(matrix: ColorMatrix, range: ColorRange) throws {
        for format in [PixelFormat.yuv420p, .nv12] {
            let picture = try ColorBarCheck.render(with: CPURenderer(fonts: Fixtures.fonts), format: format, matrix: matrix, range: range)
            try ColorBarCheck.expectBars(picture, tolerance: 3, "\(format) \(matrix) \(range)")
        }
    }

    @Test("labels render real glyphs for several scripts, cached per text and size")
    func labels() throws {
        let text = TextCache(fonts: Fixtures.fonts)
        for name in ["Ana", "Łukasz Żółć", "Юлия", "Ελένη", "Nguyễn Thị"] {
            let image = text.image(name, size: 20)
            #expect(image.width > 10 * name.count / 2 && image.height >= 20, "\(name)")
            #expect(image.coverage.contains { $0 > 200 }, "\(name) has solid ink")
            #expect(Fixtures.fonts.covers(name), "\(name) is covered by \(Fixtures.fonts.paths)")
        }
        _ = text.image("Ana", size: 20)
        #expect(text.count == 5)
    }

    @Test("placement: cover crops, contain letterboxes, crop shows part of the box")
    func placement() throws {
        // A 4:3 picture in a 16:9 tile, exercised through the renderer: the letterbox is tile background.
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        let red = PlanarFrame(size: Size(width: 40, height: 30), format: .bgra, fill: [0, 0, 255, 255])
        let bg = Color(red: 0, green: 0, blue: 80)
        let tile = Tile(participant: "p", zone: "z", rect: Rect(x: 0, y: 0, width: 160, height: 90), fit: .contain, background: bg)
        let scene = OutputScene(id: "o", size: Size(width: 160, height: 90), rotation: .none, background: Fixtures.background, tiles: [tile])
        let sources = FrameSourceTable([StreamID("p"): StillFrameSource(red)])
        let target = MemoryBuffer(size: scene.size)
        _ = try renderer.draw(scene, sources: sources, into: target)
        #expect(target[10, 45] == bg && target[150, 45] == bg)   // 120 wide picture centred: 20 px bars
        #expect(target[80, 45] == Color(red: 255, green: 0, blue: 0))
        var cover = scene
        cover.tiles[0].fit = .cover
        _ = try renderer.draw(cover, sources: sources, into: target)
        #expect(target[1, 1] == Color(red: 255, green: 0, blue: 0) && target[158, 88] == Color(red: 255, green: 0, blue: 0))
    }
}

/// Colour bars drawn full-tile, read back at each bar's centre.
enum ColorBarCheck {
    static let size = Size(width: 224, height: 64)

    static func render(with renderer: any Renderer, format: PixelFormat, matrix: ColorMatrix, range: ColorRange) throws -> MemoryBuffer {
        let bars = Placeholder.colorBars(size: size, format: format, matrix: matrix, range: range)
        let tile = Tile(participant: "bars", zone: "z", rect: Rect(x: 0, y: 0, width: size.width, height: size.height),
                        fit: .cover, background: Fixtures.background)
        let scene = OutputScene(id: "bars", size: size, rotation: .none, background: Fixtures.background, tiles: [tile])
        let target = try renderer.makeOffscreenTarget(size: size)
        _ = try renderer.draw(scene, sources: FrameSourceTable([StreamID("bars"): StillFrameSource(bars)]), into: target)
        return try renderer.readPixels(of: target)
    }

    static func expectBars(_ picture: MemoryBuffer, tolerance: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let n = Placeholder.barColors.count
        for (i, rgb) in Placeholder.barColors.enumerated() {
            let x = (2 * i + 1) * size.width / (2 * n)
            let got = picture[x, size.height / 2]
            let d = max(abs(Int(got.red) - Int(rgb.0)), abs(Int(got.green) - Int(rgb.1)), abs(Int(got.blue) - Int(rgb.2)))
            #expect(d <= tolerance, "\(what): bar \(i) is \(got), want (\(rgb.0), \(rgb.1), \(rgb.2))", sourceLocation: sourceLocation)
        }
    }
}

/// What the CPU renderer keeps between draws for tile conversion (issue 17: in the soak, the first
/// switch to a preset with a large tile added 52 MiB of scratch memory that was kept for good).
@Suite("CPU renderer memory")
struct CPURendererMemoryTests {
    static let output = Size(width: 1280, height: 720)
    static let picture = Size(width: 320, height: 180)

    /// One tile over the whole output (a teacher preset), or a 4x4 grid of picture-sized tiles (a gallery).
    static func scene(grid: Bool) -> OutputScene {
        let rects = grid
            ? (0..<16).map { Rect(x: $0 % 4 * picture.width, y: $0 / 4 * picture.height, width: picture.width, height: picture.height) }
            : [Rect(x: 0, y: 0, width: output.width, height: output.height)]
        let tiles = rects.enumerated().map { i, r in
            Tile(participant: ParticipantID("p\(i + 1)"), zone: "everyone", rect: r, fit: .contain, background: Fixtures.tileBackground)
        }
        return OutputScene(id: "mem", size: output, rotation: .none, background: Fixtures.background, tiles: tiles)
    }

    /// The scratch one tile of `size` needs at most: Y'CbCr 4:4:4 rows padded by 128 bytes.
    static func scratchBound(_ size: Size) -> Int { (size.width + 128) * size.height * 3 }

    @Test("scratch memory is one buffer per worker, sized by the largest tile shown, and shrinks when it does")
    func scratchBounded() throws {
        let workers = 2
        let renderer = try CPURenderer(fonts: Fixtures.fonts, workers: workers)
        let text = TextCache(fonts: Fixtures.fonts)
        let sources = FrameSourceTable(Dictionary(uniqueKeysWithValues: (1...16).map {
            (StreamID(ParticipantID("p\($0)")), StillFrameSource(Placeholder.participant(number: $0, size: Self.picture, text: text)) as any FrameSource)
        }))
        let target = MemoryBuffer(size: Self.output)
        let gallery = Self.scene(grid: true), teacher = Self.scene(grid: false)
        for round in 1...3 {
            _ = try renderer.draw(gallery, sources: sources, into: target)
            #expect(renderer.scratchBytes <= workers * Self.scratchBound(Self.picture),
                    "round \(round), gallery: \(renderer.scratchBytes) bytes held")
            #expect(renderer.scalerCount <= gallery.tiles.count, "round \(round), gallery: \(renderer.scalerCount) scalers")
            _ = try renderer.draw(teacher, sources: sources, into: target)
            #expect(renderer.scratchBytes <= workers * Self.scratchBound(Self.output),
                    "round \(round), teacher: \(renderer.scratchBytes) bytes held")
            #expect(renderer.scalerCount == 1, "round \(round), teacher: \(renderer.scalerCount) scalers kept")
        }
        _ = try renderer.draw(gallery, sources: sources, into: target)
        #expect(renderer.scratchBytes <= workers * Self.scratchBound(Self.picture), "back to the gallery: \(renderer.scratchBytes) bytes held")
    }
}
