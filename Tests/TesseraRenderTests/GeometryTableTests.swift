import Foundation
import Testing
import TesseraCore
import TesseraOutput
import TesseraRender

/// The geometry table: where both renderers put a picture, against the plan computed here from the
/// tile's box, crop and fit (not from the renderers' own placement code).
struct SpanCase: CustomStringConvertible, Sendable {
    /// Which part of a two-display picture box the tile shows (bezel between the displays).
    enum Part: String, Sendable, CaseIterable { case left, right, top, bottom, whole }
    var part: Part
    var rotation: Rotation
    var fit: Fit
    var description: String { "\(part) \(rotation) \(fit)" }

    static let source = Size(width: 64, height: 36)
    /// The bright rectangle in the source starts here (odd, so no even-pixel rounding hides a shift).
    static let edge = (x: 37, y: 19)
    static let display = Size(width: 300, height: 170)
    static let bezel = 22
    /// Where the tile sits on its output: off the origin, so tile rects are checked too.
    static let origin = Point(x: 11, y: 7)

    /// The picture box: two displays and the bezel between them, side by side or stacked.
    var box: Size {
        switch part {
        case .left, .right: Size(width: 2 * Self.display.width + Self.bezel, height: Self.display.height)
        case .top, .bottom: Size(width: Self.display.width, height: 2 * Self.display.height + Self.bezel)
        case .whole: Self.display
        }
    }

    /// The part of the box this display shows, in box pixels.
    var cropOrigin: (x: Double, y: Double) {
        switch part {
        case .left, .top, .whole: (0, 0)
        case .right: (Double(Self.display.width + Self.bezel), 0)
        case .bottom: (0, Double(Self.display.height + Self.bezel))
        }
    }

    var tile: Tile {
        let b = box, c = cropOrigin
        return Tile(participant: "p", zone: "z", rect: Rect(x: Self.origin.x, y: Self.origin.y, width: Self.display.width, height: Self.display.height),
                    contentSize: b,
                    crop: UnitRect(x: c.x / Double(b.width), y: c.y / Double(b.height),
                                   width: Double(Self.display.width) / Double(b.width), height: Double(Self.display.height) / Double(b.height)),
                    fit: fit, background: Color(red: 0, green: 0, blue: 255))
    }

    /// Where the plan puts the source's edge on the output (logical pixels, as a position between
    /// pixel centres): the picture fitted and centred in the box, the box's crop moved to the tile.
    var expectedEdge: (x: Double, y: Double) {
        let b = box, w = Double(Self.source.width), h = Double(Self.source.height)
        let s = fit == .contain ? min(Double(b.width) / w, Double(b.height) / h) : max(Double(b.width) / w, Double(b.height) / h)
        let px = (Double(b.width) - w * s) / 2, py = (Double(b.height) - h * s) / 2
        let c = cropOrigin
        return (Double(Self.origin.x) + px + Double(Self.edge.x) * s - c.x, Double(Self.origin.y) + py + Double(Self.edge.y) * s - c.y)
    }

    var outputSize: Size { Size(width: Self.display.width + 2 * Self.origin.x, height: Self.display.height + 2 * Self.origin.y) }

    func scene() -> OutputScene {
        return OutputScene(id: "span", size: outputSize, rotation: rotation, background: Color(red: 255, green: 0, blue: 0), tiles: [tile])
    }

    /// A dark picture with a bright rectangle from `edge` to the bottom-right corner.
    static func frame(_ format: PixelFormat) -> PlanarFrame {
        let w = source.width, h = source.height
        var y = [UInt8](repeating: 16, count: w * h)
        for r in edge.y..<h { for c in edge.x..<w { y[r * w + c] = 235 } }
        switch format {
        case .nv12:
            return PlanarFrame(size: source, format: .nv12, planes: [y, [UInt8](repeating: 128, count: w * h / 2)])
        default:
            let c = [UInt8](repeating: 128, count: w * h / 4)
            return PlanarFrame(size: source, format: .yuv420p, planes: [y, c, c])
        }
    }

    /// Draws the case and returns the viewer-oriented picture.
    func draw(_ renderer: any Renderer, format: PixelFormat) throws -> MemoryBuffer {
        let scene = scene()
        let panel = rotation.swapsAxes ? Size(width: scene.size.height, height: scene.size.width) : scene.size
        let target = try renderer.makeOffscreenTarget(size: panel)
        _ = try renderer.draw(scene, sources: FrameSourceTable([StreamID("p"): StillFrameSource(Self.frame(format))]), into: target)
        return try renderer.readPixels(of: target).unrotated(rotation)
    }
}

/// Where a row (or column) of grey levels crosses the middle between dark and bright, as a position
/// between pixel centres (pixel i covers i..<i+1), found by interpolating between the two pixels.
func crossing(_ levels: [Double], from start: Int) -> Double? {
    let mid = 255.0 / 2   // dark is Y 16 (RGB 0), bright Y 235 (RGB 255)
    for i in max(start, 1)..<levels.count where levels[i - 1] < mid && levels[i] >= mid {
        let t = (mid - levels[i - 1]) / (levels[i] - levels[i - 1])
        return Double(i - 1) + 0.5 + t
    }
    return nil
}

/// Where one renderer put the edge (nil: not measured, outside the tile) and what it found wrong.
struct EdgeMeasure {
    var x: Double?
    var y: Double?
}

@Suite("Geometry table")
struct GeometryTableTests {
    static var renderers: [String] { ColourTableTests.renderers }

    /// Measures the edge on `picture` where the plan puts it inside the tile, and checks the tile rect.
    static func measure(_ picture: MemoryBuffer, _ c: SpanCase, _ what: String) -> EdgeMeasure {
        let want = c.expectedEdge
        let tile = c.tile.rect
        var m = EdgeMeasure()
        // The edge, where it is inside the tile: measured on the row/column through the bright part.
        let row = min(tile.maxY - 2, max(tile.minY + 1, Int(want.y.rounded(.up)) + 6))
        let col = min(tile.maxX - 2, max(tile.minX + 1, Int(want.x.rounded(.up)) + 6))
        if want.x > Double(tile.minX) + 3, want.x < Double(tile.maxX) - 3, want.y < Double(tile.maxY) - 8 {
            let levels = (0..<picture.size.width).map { Double(picture[$0, row].green) }
            m.x = crossing(levels, from: tile.minX + 1)
            if m.x == nil { Issue.record("\(what): no edge on row \(row) (plan: x \(want.x))") }
        }
        if want.y > Double(tile.minY) + 3, want.y < Double(tile.maxY) - 3, want.x < Double(tile.maxX) - 8 {
            let levels = (0..<picture.size.height).map { Double(picture[col, $0].green) }
            m.y = crossing(levels, from: tile.minY + 1)
            if m.y == nil { Issue.record("\(what): no edge on column \(col) (plan: y \(want.y))") }
        }
        // The tile rect: the output background just outside it, the tile inside it.
        for (x, y) in [(tile.minX - 1, tile.minY + 5), (tile.maxX, tile.minY + 5), (tile.minX + 5, tile.minY - 1), (tile.minX + 5, tile.maxY)] {
            #expect(picture[x, y] == Color(red: 255, green: 0, blue: 0), "\(what): (\(x),\(y)) outside the tile is \(picture[x, y])")
        }
        for (x, y) in [(tile.minX, tile.minY), (tile.maxX - 1, tile.maxY - 1)] {
            #expect(picture[x, y] != Color(red: 255, green: 0, blue: 0), "\(what): tile corner (\(x),\(y)) is background")
        }
        return m
    }

    @Test("pictures land where the plan puts them, on both renderers alike: tile rects, spanning crops with bezels, rotation",
          arguments: Rotation.allCases)
    func table(rotation: Rotation) throws {
        let renderers = try Self.renderers.map { ($0, try ColourTableTests.make($0)) }
        for part in SpanCase.Part.allCases {
            for fit in [Fit.cover, .contain] {
                for format in [PixelFormat.yuv420p, .nv12] {
                    let c = SpanCase(part: part, rotation: rotation, fit: fit)
                    let want = c.expectedEdge
                    var found: [(String, EdgeMeasure)] = []
                    for (kind, renderer) in renderers {
                        let what = "\(kind) \(c) \(format)"
                        let m = Self.measure(try c.draw(renderer, format: format), c, what)
                        if let x = m.x { #expect(abs(x - want.x) <= 1, "\(what): edge at x \(x), plan \(want.x)") }
                        if let y = m.y { #expect(abs(y - want.y) <= 1, "\(what): edge at y \(y), plan \(want.y)") }
                        found.append((kind, m))
                    }
                    // And with each other.
                    if found.count == 2, let a = found[0].1.x, let b = found[1].1.x {
                        #expect(abs(a - b) <= 1, "\(c) \(format): edge at x \(a) on \(found[0].0), \(b) on \(found[1].0)")
                    }
                    if found.count == 2, let a = found[0].1.y, let b = found[1].1.y {
                        #expect(abs(a - b) <= 1, "\(c) \(format): edge at y \(a) on \(found[0].0), \(b) on \(found[1].0)")
                    }
                }
            }
        }
    }
}
