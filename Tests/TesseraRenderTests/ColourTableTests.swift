import Foundation
import Testing
import TesseraCore
import TesseraOutput
import TesseraRender

/// The colour table: both renderers against an independent reference, computed here from the
/// BT.601/BT.709 equations in floating point, over tile sizes from 2x2 up, odd and even widths,
/// scaled up and down, cover and contain, and pictures made by the `ffmpeg` CLI.
enum ColourReference {
    static func coefficients(_ m: ColorMatrix) -> (kr: Double, kb: Double) {
        switch m {
        case .bt601: (0.299, 0.114)
        case .bt709: (0.2126, 0.0722)
        }
    }

    /// R'G'B' (0–255) → Y'CbCr bytes, by the standard equations.
    static func yuv(_ rgb: (Double, Double, Double), _ m: ColorMatrix, _ range: ColorRange) -> [UInt8] {
        let (kr, kb) = coefficients(m), kg = 1 - kr - kb
        let r = rgb.0 / 255, g = rgb.1 / 255, b = rgb.2 / 255
        let y = kr * r + kg * g + kb * b
        let cb = (b - y) / (2 * (1 - kb)), cr = (r - y) / (2 * (1 - kr))
        let (ys, yo, cs): (Double, Double, Double) = range == .limited ? (219, 16, 224) : (255, 0, 255)
        func q(_ v: Double) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }
        return [q(y * ys + yo), q(cb * cs + 128), q(cr * cs + 128)]
    }

    /// Y'CbCr bytes → R'G'B' (0–255, not rounded), by the inverse equations.
    static func rgb(_ yuv: [UInt8], _ m: ColorMatrix, _ range: ColorRange) -> (Double, Double, Double) {
        let (kr, kb) = coefficients(m), kg = 1 - kr - kb
        let (ys, yo, cs): (Double, Double, Double) = range == .limited ? (219, 16, 224) : (255, 0, 255)
        let y = (Double(yuv[0]) - yo) / ys, cb = (Double(yuv[1]) - 128) / cs, cr = (Double(yuv[2]) - 128) / cs
        let r = y + 2 * (1 - kr) * cr, b = y + 2 * (1 - kb) * cb
        let g = (y - kr * r - kb * b) / kg
        func c(_ v: Double) -> Double { max(0, min(255, v * 255)) }
        return (c(r), c(g), c(b))
    }

    /// The largest channel difference between `got` and the reference.
    static func error(_ got: Color, _ want: (Double, Double, Double)) -> Double {
        max(abs(Double(got.red) - want.0), abs(Double(got.green) - want.1), abs(Double(got.blue) - want.2))
    }
}

/// One row of the table: where the picture lands and the worst error seen in it.
struct ColourCase: CustomStringConvertible, Sendable {
    var tile: Size
    var source: Size
    var fit: Fit
    var matrix: ColorMatrix
    var range: ColorRange
    var format: PixelFormat
    var description: String {
        "\(source.width)x\(source.height) \(format) \(matrix) \(range) → \(tile.width)x\(tile.height) \(fit)"
    }

    /// The tile sits at (1,1) in an output one pixel larger on each side.
    static let origin = 1

    /// The picture's rectangle in the output, by the fit rule (independent of the renderers).
    var pictureRect: Rect {
        let sw = Double(source.width), sh = Double(source.height), tw = Double(tile.width), th = Double(tile.height)
        guard fit == .contain else { return Rect(x: Self.origin, y: Self.origin, width: tile.width, height: tile.height) }
        let s = min(tw / sw, th / sh)
        let x0 = Int(((tw - sw * s) / 2).rounded()), x1 = Int(((tw + sw * s) / 2).rounded())
        let y0 = Int(((th - sh * s) / 2).rounded()), y1 = Int(((th + sh * s) / 2).rounded())
        return Rect(x: Self.origin + x0, y: Self.origin + y0, width: x1 - x0, height: y1 - y0)
    }

    func scene(id: String) -> OutputScene {
        let t = Tile(participant: "p", zone: "z", rect: Rect(x: Self.origin, y: Self.origin, width: tile.width, height: tile.height),
                     fit: fit, background: Color(red: 255, green: 0, blue: 255))
        return OutputScene(id: id, size: Size(width: tile.width + 2, height: tile.height + 2), rotation: .none,
                           background: Color(red: 255, green: 0, blue: 255), tiles: [t])
    }

    /// Draws `frame` (twice: a renderer's second picture into a tile is the one that went wrong)
    /// and returns the worst error over up to 16x16 sampled pixels of the picture, edges included.
    func worstError(_ renderer: any Renderer, frame: () -> any VideoFrame, want: (Double, Double, Double)) throws -> (Double, Color, Point) {
        let scene = scene(id: "colour")
        let target = try renderer.makeOffscreenTarget(size: scene.size)
        for _ in 0..<2 {
            _ = try renderer.draw(scene, sources: FrameSourceTable([StreamKey("p"): StillFrameSource(frame())]), into: target)
        }
        let picture = try renderer.readPixels(of: target)
        let r = pictureRect
        var worst = (-1.0, Color(red: 0, green: 0, blue: 0), Point(x: 0, y: 0))
        let nx = min(16, r.width), ny = min(16, r.height)
        for j in 0..<ny {
            for i in 0..<nx {
                let x = r.x + (nx == 1 ? 0 : i * (r.width - 1) / (nx - 1)), y = r.y + (ny == 1 ? 0 : j * (r.height - 1) / (ny - 1))
                let got = picture[x, y]
                let e = ColourReference.error(got, want)
                if e > worst.0 { worst = (e, got, Point(x: x, y: y)) }
            }
        }
        return worst
    }

    /// Tile sizes from 2x2 up: odd and even widths, scaled down (2x2, 301) and up (1920) from 640x360.
    static let tiles: [Size] = [Size(width: 2, height: 2), Size(width: 3, height: 3), Size(width: 301, height: 169),
                                Size(width: 669, height: 376), Size(width: 939, height: 528), Size(width: 953, height: 536),
                                Size(width: 1920, height: 1080)]
    static let colours: [(Double, Double, Double)] = [(0, 188, 0), (255, 255, 255), (0, 0, 0), (200, 100, 50), (30, 60, 220), (128, 128, 128)]
}

/// Worst errors per renderer and case, printed at the end of a table for the record.
final class ColourLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [String: Double] = [:]
    func note(_ key: String, _ e: Double) { lock.withLock { rows[key] = max(rows[key] ?? 0, e) } }
    /// Within 2 levels; the CPU renderer's limited-range green, about 2 low on swscale's fast path
    /// (docs/rendering.md), is a known issue up to 3.5 levels (a wrong matrix or range is 20+ off).
    static func check(kind: String, range: ColorRange, error e: Double, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        if kind == "cpu", range == .limited, e > 2, e <= 3.5 {
            withKnownIssue("swscale's fast YUV → RGB tables draw limited-range green about 2 levels low") {
                Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
            }
        } else {
            #expect(e <= 2, Comment(rawValue: message), sourceLocation: sourceLocation)
        }
    }
    var summary: String { lock.withLock { rows.sorted { $0.key < $1.key }.map { String(format: "%@ max %.2f", $0.key, $0.value) }.joined(separator: "\n") } }
}

@Suite("Colour table")
struct ColourTableTests {
    static var renderers: [String] {
        HeadlessGL.unavailable == nil ? ["cpu", "gles"] : ["cpu"]
    }

    static func make(_ kind: String) throws -> any Renderer {
        kind == "gles" ? try GLESRenderer(fonts: Fixtures.fonts) : try CPURenderer(fonts: Fixtures.fonts)
    }

    @Test("flat colours convert within 2 levels of the BT.601/709 equations, any tile size, odd or even, cover and contain",
          arguments: renderers, ColourCase.tiles)
    func table(renderer kind: String, tile: Size) throws {
        let renderer = try Self.make(kind)
        let ledger = ColourLedger()
        // 640x360 is scaled down to the small tiles and up to the large ones; 321x181 is odd itself.
        for source in [Size(width: 640, height: 360), Size(width: 321, height: 181)] {
            for fit in [Fit.cover, .contain] {
                for matrix in ColorMatrix.allCases {
                    for range in ColorRange.allCases {
                        for format in [PixelFormat.yuv420p, .nv12] {
                            let c = ColourCase(tile: tile, source: source, fit: fit, matrix: matrix, range: range, format: format)
                            let colours = tile.width >= 1920 ? Array(ColourCase.colours.prefix(2)) : ColourCase.colours
                            for rgb in colours {
                                let yuv = ColourReference.yuv(rgb, matrix, range)
                                let want = ColourReference.rgb(yuv, matrix, range)
                                let (e, got, at) = try c.worstError(renderer, frame: {
                                    PlanarFrame(size: source, format: format, fill: yuv, matrix: matrix, range: range)
                                }, want: want)
                                ledger.note("\(kind) \(matrix) \(range) \(tile.width % 2 == 0 ? "even" : "odd")", e)
                                ColourLedger.check(kind: kind, range: range, error: e, "\(kind) \(c): \(rgb) drawn \(got) at \(at), want \(want) (error \(e))")
                            }
                        }
                    }
                }
            }
        }
        print("colour table \(kind) \(tile.width)x\(tile.height):\n\(ledger.summary)")
    }

    /// A picture made by the ffmpeg CLI (lavfi colour source, converted and tagged by FFmpeg's own
    /// scaler), read as raw yuv420p: the renderer is checked against what FFmpeg wrote, not our generator.
    static func ffmpegPicture(colour: String, size: Size, matrix: ColorMatrix, range: ColorRange) throws -> [[UInt8]] {
        let m = matrix == .bt709 ? "bt709" : "bt601"
        let r = range == .full ? "pc" : "tv"
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-colour-\(UUID().uuidString).yuv")
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=\(colour):s=\(size.width)x\(size.height)",
                       "-vf", "scale=out_color_matrix=\(m):out_range=\(r),format=yuv420p",
                       "-colorspace", matrix == .bt709 ? "bt709" : "smpte170m", "-color_range", r,
                       "-frames:v", "1", "-f", "rawvideo", out.path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.fileReadUnknown) }
        let data = try Data(contentsOf: out)
        let cw = (size.width + 1) / 2, ch = (size.height + 1) / 2
        let ySize = size.width * size.height, cSize = cw * ch
        try #require(data.count == ySize + 2 * cSize, "ffmpeg wrote \(data.count) bytes")
        let bytes = [UInt8](data)
        return [Array(bytes[0..<ySize]), Array(bytes[ySize..<ySize + cSize]), Array(bytes[(ySize + cSize)...])]
    }

    static let ffmpegAvailable: Bool = FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg")

    @Test("pictures made by the ffmpeg CLI convert within 2 levels, odd and even tile widths",
          .enabled(if: ffmpegAvailable, "needs the ffmpeg CLI (make deps)"), arguments: renderers)
    func ffmpegMade(renderer kind: String) throws {
        let renderer = try Self.make(kind)
        let ledger = ColourLedger()
        let source = Size(width: 640, height: 360)
        for matrix in ColorMatrix.allCases {
            for range in ColorRange.allCases {
                for colour in ["0x00BC00", "0xFFFFFF", "0xC86432"] {
                    let planes = try Self.ffmpegPicture(colour: colour, size: source, matrix: matrix, range: range)
                    // The reference comes from the bytes FFmpeg wrote, at the picture's centre.
                    let yuv = (0..<3).map { i in
                        let w = i == 0 ? source.width : source.width / 2, h = i == 0 ? source.height : source.height / 2
                        return planes[i][(h / 2) * w + w / 2]
                    }
                    let want = ColourReference.rgb(yuv, matrix, range)
                    for tile in [Size(width: 301, height: 169), Size(width: 669, height: 376), Size(width: 640, height: 360), Size(width: 1920, height: 1080)] {
                        for fit in [Fit.cover, .contain] {
                            let c = ColourCase(tile: tile, source: source, fit: fit, matrix: matrix, range: range, format: .yuv420p)
                            let (e, got, at) = try c.worstError(renderer, frame: {
                                PlanarFrame(size: source, format: .yuv420p, matrix: matrix, range: range, planes: planes)
                            }, want: want)
                            ledger.note("ffmpeg \(kind) \(matrix) \(range) \(tile.width % 2 == 0 ? "even" : "odd")", e)
                            ColourLedger.check(kind: kind, range: range, error: e, "\(kind) ffmpeg \(colour) \(c): drawn \(got) at \(at), want \(want) (error \(e))")
                        }
                    }
                }
            }
        }
        print("colour table ffmpeg \(kind):\n\(ledger.summary)")
    }
}
