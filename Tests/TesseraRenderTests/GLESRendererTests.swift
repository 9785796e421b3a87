import Foundation
import Testing
import TesseraCore
import TesseraOutput
import TesseraRender

/// Headless EGL (Mesa llvmpipe, surfaceless). Where EGL cannot start, the tests say why and skip.
enum HeadlessGL {
    /// Nil when a GLES renderer starts here; otherwise why not.
    static let unavailable: String? = {
        do { _ = try GLESRenderer(fonts: Fixtures.fonts); return nil } catch { return "headless EGL/GLES unavailable: \(error)" }
    }()
}

@Suite("GLES renderer (headless EGL)", .enabled(if: HeadlessGL.unavailable == nil, "needs Mesa's surfaceless EGL (libegl-mesa0, libgl1-mesa-dri)"))
struct GLESRendererTests {
    @Test("every shader compiles and links at run time on this driver")
    func programs() throws {
        let gles = try GLESRenderer(fonts: Fixtures.fonts)
        #expect(Set(gles.compiledPrograms).isSuperset(of: ["yuv420p.frag", "nv12.frag", "bgra.frag", "solid.frag", "text.frag"]))
        // llvmpipe has no dma-buf import: the external-image path stays off there.
        if gles.rendererName.contains("llvmpipe") { #expect(!gles.canImportDMABuf) }
    }

    @Test("mixed scene matches its golden", arguments: [Rotation.none, .quarter])
    func golden(rotation: Rotation) throws {
        let gles = try GLESRenderer(fonts: Fixtures.fonts)
        let (scene, sources) = Fixtures.mixedScene(rotation: rotation)
        let target = try gles.makeOffscreenTarget(size: Fixtures.panelSize(of: scene))
        _ = try gles.draw(scene, sources: sources, into: target)
        try Golden.check(try gles.readPixels(of: target).unrotated(rotation), "gles-mixed-\(rotation.rawValue)")
    }

    @Test("GLES and CPU draw the same picture within tolerance", arguments: [Rotation.none, .threeQuarters])
    func agreesWithCPU(rotation: Rotation) throws {
        let (scene, sources) = Fixtures.mixedScene(rotation: rotation)
        let gles = try GLESRenderer(fonts: Fixtures.fonts)
        let g = try gles.makeOffscreenTarget(size: Fixtures.panelSize(of: scene))
        _ = try gles.draw(scene, sources: sources, into: g)
        let cpu = try CPURenderer(fonts: Fixtures.fonts)
        let c = try cpu.makeOffscreenTarget(size: Fixtures.panelSize(of: scene))
        _ = try cpu.draw(scene, sources: sources, into: c)
        let diff = try #require(PictureDiff.between(try gles.readPixels(of: g), try cpu.readPixels(of: c), tolerance: 24))
        // Scaling filters differ at edges (swscale's bilinear vs texture sampling); flat areas,
        // frames, labels and slates agree.
        #expect(diff.outliers < 0.02 && diff.meanDelta < 2.5, "\(diff)")
    }

    @Test("colour bars convert to their RGB values", arguments: ColorMatrix.allCases, ColorRange.allCases)
    func colorBars(matrix: ColorMatrix, range: ColorRange) throws {
        let gles = try GLESRenderer(fonts: Fixtures.fonts)
        for format in [PixelFormat.yuv420p, .nv12] {
            let picture = try ColorBarCheck.render(with: gles, format: format, matrix: matrix, range: range)
            try ColorBarCheck.expectBars(picture, tolerance: 3, "\(format) \(matrix) \(range)")
        }
    }

    @Test("strided planes upload with their row length; a new frame re-uploads, the same does not")
    func stridedUpload() throws {
        let gles = try GLESRenderer(fonts: Fixtures.fonts)
        let size = Size(width: 60, height: 34)
        // Each plane 20 bytes wider than its picture, the padding filled with garbage.
        let y: [UInt8] = (0..<(80 * 34)).map { $0 % 80 < 60 ? 180 : 7 }
        let c: [UInt8] = (0..<(50 * 17)).map { $0 % 50 < 30 ? 128 : 250 }
        let frame = PlanarFrame(size: size, format: .yuv420p, matrix: .bt709, range: .full, planes: [y, c, c], strides: [80, 50, 50])
        let tile = Tile(participant: "p", zone: "z", rect: Rect(x: 0, y: 0, width: 60, height: 34), fit: .cover, background: Fixtures.background)
        let scene = OutputScene(id: "o", size: size, rotation: .none, background: Fixtures.background, tiles: [tile])
        let source = StillFrameSource(frame)
        let target = try gles.makeOffscreenTarget(size: size)
        #expect(try gles.draw(scene, sources: FrameSourceTable([StreamID("p"): source]), into: target).framesConverted == 1)
        #expect(try gles.draw(scene, sources: FrameSourceTable([StreamID("p"): source]), into: target).framesConverted == 0)
        let picture = try gles.readPixels(of: target)
        for (x, yy) in [(0, 0), (59, 33), (30, 17)] {
            let p = picture[x, yy]
            #expect(abs(Int(p.red) - 180) <= 2 && abs(Int(p.green) - 180) <= 2 && abs(Int(p.blue) - 180) <= 2, "(\(x),\(yy)) is \(p)")
        }
    }
}

@Suite("Shaders")
struct ShaderTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Shaders")
    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".vert") || $0.hasSuffix(".frag") }.sorted()
    }
    static let validator = ["/usr/bin/glslangValidator", "/usr/local/bin/glslangValidator"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test("every file in Shaders/ passes glslangValidator",
          .enabled(if: validator != nil, "needs glslangValidator (Debian: glslang-tools)"))
    func validate() throws {
        #expect(Self.files.count >= 7)
        for name in Self.files {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.validator!)
            p.arguments = [Self.directory.appendingPathComponent(name).path]
            let pipe = Pipe()
            p.standardOutput = pipe; p.standardError = pipe
            try p.run()
            let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(name): \(log)")
        }
    }

    /// The binary embeds Shaders/ (ShaderSources.swift); TESSERA_UPDATE_SHADERS=1 regenerates it.
    @Test("the shaders built into the renderer are the files in Shaders/")
    func embedded() throws {
        var generated = """
            // Generated from the top-level Shaders/ folder by the render tests (TESSERA_UPDATE_SHADERS=1):
            // edit the files there, not this one. Embedded so that the binary needs no files at run time.
            enum ShaderSources {
                static let files: [String: String] = [

            """
        var onDisk: [String: String] = [:]
        for name in Self.files {
            let text = try String(contentsOf: Self.directory.appendingPathComponent(name), encoding: .utf8)
            onDisk[name] = text.hasSuffix("\n") ? String(text.dropLast()) : text
            generated += "        \"\(name)\": #\"\"\"\n\(text)\"\"\"#,\n"
        }
        generated += "    ]\n}\n"
        if ProcessInfo.processInfo.environment["TESSERA_UPDATE_SHADERS"] == "1" {
            let swift = Self.directory.deletingLastPathComponent().appendingPathComponent("Sources/TesseraRender/ShaderSources.swift")
            try generated.write(to: swift, atomically: true, encoding: .utf8)
            return
        }
        #expect(GLESRenderer.shaderSources == onDisk, "Shaders/ changed: run the render tests once with TESSERA_UPDATE_SHADERS=1 and rebuild")
    }
}
