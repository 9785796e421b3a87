import Foundation
import Testing
import TesseraCore
import TesseraMedia
import TesseraOutput
import TesseraRender

/// The reference: Y'CbCr code values → R'G'B' levels by the BT.601/709/2020 equations in floating
/// point, written out here from the standards (not taken from the renderers' tables or matrices).
enum ColourReference {
    static func rgb(y: UInt8, cb: UInt8, cr: UInt8, matrix: ColorMatrix, range: ColorRange) -> (Double, Double, Double) {
        let (kr, kb): (Double, Double) = switch matrix {
        case .bt601: (0.299, 0.114)
        case .bt709: (0.2126, 0.0722)
        case .bt2020: (0.2627, 0.0593)
        }
        let kg = 1 - kr - kb
        // E'Y in 0...1, E'Cb and E'Cr in -0.5...0.5.
        let ey = range == .limited ? (Double(y) - 16) / 219 : Double(y) / 255
        let ecb = (Double(cb) - 128) / (range == .limited ? 224 : 255)
        let ecr = (Double(cr) - 128) / (range == .limited ? 224 : 255)
        let r = ey + 2 * (1 - kr) * ecr
        let b = ey + 2 * (1 - kb) * ecb
        let g = (ey - kr * r - kb * b) / kg
        func level(_ v: Double) -> Double { min(255, max(0, v * 255)) }
        return (level(r), level(g), level(b))
    }

    static func error(_ got: Color, _ want: (Double, Double, Double)) -> Double {
        max(abs(Double(got.red) - want.0), abs(Double(got.green) - want.1), abs(Double(got.blue) - want.2))
    }
}

/// Clips made by the `ffmpeg` CLI from known RGB pictures (converted and tagged by FFmpeg, encoded
/// losslessly with libx264) and decoded by TesseraMedia, as the wall would receive them.
struct ColourClip: Sendable, CustomStringConvertible {
    /// The `scale` filter's matrix, the stream's `-colorspace` tag (nil: untagged) and range.
    var scaleMatrix: String
    var tag: String?
    var range: ColorRange
    var size: Size
    /// What the tags mean (or the documented default for untagged streams): the reference's matrix.
    var matrix: ColorMatrix
    /// Bars: the six colours in a 3x2 grid; solid: `colours[0]` everywhere (for the tiny tiles).
    var solid: Bool
    var description: String { "\(tag ?? "untagged") \(range) \(size.width)x\(size.height)\(solid ? " solid" : "")" }

    static let colours: [(UInt8, UInt8, UInt8)] = [(0, 188, 0), (255, 255, 255), (0, 0, 0), (200, 100, 50), (30, 60, 220), (128, 128, 128)]

    /// Every matrix and range FFmpeg reports, and untagged streams below and at 720 lines.
    static let all: [ColourClip] = {
        let sd = Size(width: 640, height: 360), hd = Size(width: 1280, height: 720)
        let configs: [(String, String?, ColorRange, Size, ColorMatrix)] = [
            ("bt601", "bt470bg", .limited, sd, .bt601), ("bt601", "smpte170m", .full, sd, .bt601),
            ("bt709", "bt709", .limited, sd, .bt709), ("bt709", "bt709", .full, hd, .bt709),
            ("bt2020", "bt2020nc", .limited, hd, .bt2020), ("bt2020", "bt2020nc", .full, sd, .bt2020),
            // Untagged: BT.709 from 720 lines up, BT.601 below, limited range (docs/rendering.md).
            ("bt601", nil, .limited, sd, .bt601), ("bt709", nil, .limited, hd, .bt709),
        ]
        return [false, true].flatMap { solid in
            configs.map { ColourClip(scaleMatrix: $0.0, tag: $0.1, range: $0.2, size: $0.3, matrix: $0.4, solid: solid) }
        }
    }()

    /// The bars: column c, row r of a 3x2 grid.
    func bar(at x: Int, _ y: Int) -> Int { solid ? 0 : min(2, x * 3 / size.width) + 3 * min(1, y * 2 / size.height) }
    /// A bar's extent in source pixels.
    func barRect(_ i: Int) -> (x0: Double, y0: Double, x1: Double, y1: Double) {
        if solid { return (0, 0, Double(size.width), Double(size.height)) }
        let c = i % 3, r = i / 3
        func edge(_ k: Int, _ n: Int, _ length: Int) -> Double { Double((k * length + n - 1) / n) }
        return (edge(c, 3, size.width), edge(r, 2, size.height), edge(c + 1, 3, size.width), edge(r + 1, 2, size.height))
    }
    var bars: Int { solid ? 1 : 6 }

    /// Writes the RGB picture and has ffmpeg convert, tag and encode it.
    func make(in dir: URL, index: Int) async throws -> String {
        let rgbPath = dir.appendingPathComponent("clip\(index).rgb").path, out = dir.appendingPathComponent("clip\(index).mp4").path
        var rgb = [UInt8](repeating: 0, count: size.width * size.height * 3)
        for y in 0..<size.height {
            for x in 0..<size.width {
                let c = Self.colours[bar(at: x, y)], i = (y * size.width + x) * 3
                rgb[i] = c.0; rgb[i + 1] = c.1; rgb[i + 2] = c.2
            }
        }
        try Data(rgb).write(to: URL(fileURLWithPath: rgbPath))
        let r = range == .full ? "pc" : "tv"
        var args = ["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(size.width)x\(size.height)", "-i", rgbPath,
                    "-vf", "scale=out_color_matrix=\(scaleMatrix):out_range=\(r),format=yuv420p",
                    "-c:v", "libx264", "-qp", "0", "-frames:v", "2"]
        if let tag { args += ["-colorspace", tag, "-color_range", r] }
        try await Command.run("/usr/bin/ffmpeg", args + [out])
        return out
    }
}

/// Runs a command without blocking a test thread: its end is awaited through a termination handler.
enum Command {
    struct Failed: Error, CustomStringConvertible {
        var command: String, status: Int32
        var description: String { "\(command) exited with status \(status)" }
    }

    static func run(_ path: String, _ arguments: [String]) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let status: Int32 = try await withCheckedThrowingContinuation { c in
            p.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try p.run() } catch { p.terminationHandler = nil; c.resume(throwing: error) }
        }
        guard status == 0 else { throw Failed(command: ([path] + arguments).joined(separator: " "), status: status) }
    }
}

/// The clips, made and decoded once for the whole suite.
enum DecodedClips {
    static let ffmpegAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg")

    static let frames = Task<[DecodedFrame], any Error> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-colour-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var paths: [String] = []
        for (i, clip) in ColourClip.all.enumerated() { paths.append(try await clip.make(in: dir, index: i)) }
        var config = MediaConfiguration()
        config.paceFiles = false
        config.hardwareDecode = .off
        let engine = MediaEngine(configuration: config)
        let ids = paths.indices.map { StreamID(ParticipantID("clip\($0)")) }
        _ = engine.update(desired: zip(ids, paths).map { StreamRequest(id: $0, url: $1, origin: .localConfig) })
        var frames: [DecodedFrame?] = Array(repeating: nil, count: ids.count)
        for _ in 0..<1500 where frames.contains(where: { $0 == nil }) {
            for (i, id) in ids.enumerated() where frames[i] == nil { frames[i] = engine.mailbox(for: id)?.latestDecodedFrame() }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Shutting down joins the stream threads: off the test's cooperative threads.
        await withCheckedContinuation { c in Thread { engine.shutdown(); c.resume() }.start() }
        return try frames.enumerated().map { i, f in
            guard let f else { throw Undecoded(clip: ColourClip.all[i]) }
            return f
        }
    }

    struct Undecoded: Error, CustomStringConvertible {
        var clip: ColourClip
        var description: String { "\(clip) decoded no picture within 30 s" }
    }
}

/// One draw of the table: a clip in a tile of `tile` size with `fit`.
struct ColourDraw: CustomStringConvertible {
    var tile: Size
    var fit: Fit
    var description: String { "\(tile.width)x\(tile.height) \(fit)" }

    /// The tile sits at (1,1) in an output one pixel larger on each side, on magenta.
    static let origin = 1

    /// Draws `frame` twice (the second picture into a tile is the one that went wrong) and returns
    /// the worst error over the centres of the clip's bars visible in the tile, edges excluded.
    func check(_ renderer: any Renderer, frame: any VideoFrame, clip: ColourClip) throws -> (error: Double, detail: String)? {
        let magenta = Color(red: 255, green: 0, blue: 255)
        let t = Tile(participant: "p", zone: "z", rect: Rect(x: Self.origin, y: Self.origin, width: tile.width, height: tile.height),
                     fit: fit, background: magenta)
        let scene = OutputScene(id: "colour", size: Size(width: tile.width + 2, height: tile.height + 2), rotation: .none,
                                background: magenta, tiles: [t])
        let target = try renderer.makeOffscreenTarget(size: scene.size)
        let sources = FrameSourceTable([StreamID("p"): StillFrameSource(frame)])
        _ = try renderer.draw(scene, sources: sources, into: target)
        _ = try renderer.draw(scene, sources: FrameSourceTable([StreamID("p"): StillFrameSource(frame)]), into: target)
        let picture = try renderer.readPixels(of: target)
        // Fit, worked out here: the picture scaled by s and centred in the tile.
        let sw = Double(clip.size.width), sh = Double(clip.size.height), tw = Double(tile.width), th = Double(tile.height)
        let s = fit == .contain ? min(tw / sw, th / sh) : max(tw / sw, th / sh)
        let ox = Double(Self.origin) + (tw - sw * s) / 2, oy = Double(Self.origin) + (th - sh * s) / 2
        var worst: (Double, String)?
        for i in 0..<clip.bars {
            let b = clip.barRect(i)
            // The bar on the output, kept to the tile, less a margin for filtering at its edges
            // (none for solid clips, three pixels for bars).
            let margin: Double = clip.solid ? 0 : 3
            let x0 = max(ox + b.x0 * s, Double(Self.origin)) + margin, x1 = min(ox + b.x1 * s, Double(Self.origin + tile.width)) - margin
            let y0 = max(oy + b.y0 * s, Double(Self.origin)) + margin, y1 = min(oy + b.y1 * s, Double(Self.origin + tile.height)) - margin
            guard x1 > x0, y1 > y0 else { continue }
            // Solid clips: every pixel whose centre is in the picture (a tiny tile's edge rows are
            // where swscale's fast vertical filter went 4 levels high); bars: the centre.
            var points: [(Int, Int)] = []
            if clip.solid {
                for y in Int(y0.rounded(.down))...Int(y1.rounded(.down)) where Double(y) + 0.5 >= y0 && Double(y) + 0.5 <= y1 {
                    for x in Int(x0.rounded(.down))...Int(x1.rounded(.down)) where Double(x) + 0.5 >= x0 && Double(x) + 0.5 <= x1 {
                        points.append((x, y))
                    }
                }
            } else {
                points = [(Int(((x0 + x1) / 2).rounded(.down)), Int(((y0 + y1) / 2).rounded(.down)))]
            }
            // The reference from the Y'CbCr the decoder gave, at the bar's centre in the source.
            let sx = Int((b.x0 + b.x1) / 2), sy = Int((b.y0 + b.y1) / 2)
            let code = (0..<3).map { p in
                frame.withPlane(p) { span in
                    span.withUnsafeBytes { raw in raw[(p == 0 ? sy : sy / 2) * frame.stride(ofPlane: p) + (p == 0 ? sx : sx / 2)] }
                }
            }
            let want = ColourReference.rgb(y: code[0], cb: code[1], cr: code[2], matrix: clip.matrix, range: clip.range)
            for (px, py) in points {
                let got = picture[px, py]
                let e = ColourReference.error(got, want)
                if e > (worst?.0 ?? -1) {
                    worst = (e, "bar \(i) Y'CbCr \(code) at (\(px),\(py)) drawn \(got), want (\(String(format: "%.1f, %.1f, %.1f", want.0, want.1, want.2)))")
                }
            }
        }
        return worst
    }

    /// Odd and even widths, scaled down and up, cover and contain.
    static let bars: [ColourDraw] = [
        ColourDraw(tile: Size(width: 301, height: 169), fit: .cover), ColourDraw(tile: Size(width: 300, height: 169), fit: .contain),
        ColourDraw(tile: Size(width: 669, height: 376), fit: .contain), ColourDraw(tile: Size(width: 939, height: 528), fit: .cover),
        ColourDraw(tile: Size(width: 953, height: 536), fit: .contain), ColourDraw(tile: Size(width: 640, height: 360), fit: .cover),
        ColourDraw(tile: Size(width: 1281, height: 721), fit: .cover), ColourDraw(tile: Size(width: 427, height: 440), fit: .contain),
    ]
    /// The tiny tiles, on solid clips.
    static let tiny: [ColourDraw] = [
        ColourDraw(tile: Size(width: 2, height: 2), fit: .cover), ColourDraw(tile: Size(width: 3, height: 3), fit: .cover),
        ColourDraw(tile: Size(width: 3, height: 3), fit: .contain), ColourDraw(tile: Size(width: 5, height: 2), fit: .contain),
        ColourDraw(tile: Size(width: 7, height: 5), fit: .cover), ColourDraw(tile: Size(width: 7, height: 5), fit: .contain),
        ColourDraw(tile: Size(width: 20, height: 12), fit: .cover), ColourDraw(tile: Size(width: 64, height: 36), fit: .contain),
    ]
    /// The one large case: a whole 4K output.
    static let large = ColourDraw(tile: Size(width: 3840, height: 2160), fit: .cover)
}

@Suite("Colour table", .enabled(if: DecodedClips.ffmpegAvailable, "needs the ffmpeg CLI (make deps) to make the clips"))
struct ColourTableTests {
    static var renderers: [String] { HeadlessGL.unavailable == nil ? ["cpu", "gles"] : ["cpu"] }

    static func make(_ kind: String) throws -> any Renderer {
        kind == "gles" ? try GLESRenderer(fonts: Fixtures.fonts) : try CPURenderer(fonts: Fixtures.fonts)
    }

    @Test("the decoder reports each clip's matrix and range; untagged ones get the documented default")
    func tags() async throws {
        let frames = try await DecodedClips.frames.value
        for (clip, frame) in zip(ColourClip.all, frames) {
            #expect(frame.matrix == clip.matrix && frame.range == clip.range, "\(clip): decoded as \(frame.matrix) \(frame.range)")
        }
    }

    @Test("ffmpeg-made clips convert within 2 levels of the BT.601/709/2020 equations: tiles 2x2 to 3840x2160, odd and even, up and down, cover and contain",
          arguments: renderers)
    func table(renderer kind: String) async throws {
        let frames = try await DecodedClips.frames.value
        // No suspension from here on: GLES stays on this thread.
        try Self.run(kind, frames)
    }

    private static func run(_ kind: String, _ frames: [DecodedFrame]) throws {
        let renderer = try make(kind)
        var ledger: [String: Double] = [:]
        for (clip, frame) in zip(ColourClip.all, frames) {
            var draws = clip.solid ? ColourDraw.tiny : ColourDraw.bars
            if !clip.solid, clip.tag == "bt709", clip.range == .full { draws.append(ColourDraw.large) }
            for draw in draws {
                guard let (e, detail) = try draw.check(renderer, frame: frame, clip: clip) else {
                    Issue.record("\(kind) \(clip) in \(draw): no bar centre visible"); continue
                }
                let row = "\(kind) \(clip.matrix) \(clip.range)"
                ledger[row] = max(ledger[row] ?? 0, e)
                #expect(e <= 2, "\(kind) \(clip) in \(draw): \(detail), \(String(format: "%.2f", e)) levels off")
            }
        }
        print("colour table, worst error in levels:\n" + ledger.sorted { $0.key < $1.key }.map { String(format: "  %@: %.2f", $0.key, $0.value) }.joined(separator: "\n"))
    }
}
