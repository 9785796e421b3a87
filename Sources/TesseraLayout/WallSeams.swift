import TesseraCore

/// Where displays meet on the wall, and how wide the hidden strip (mullion) behind their bezels
/// is in pixels. A picture that spans displays is laid out as if it continued behind the bezels,
/// so straight lines stay straight across a seam.
struct WallSeams: Sendable {
    struct Piece {
        var output: Int
        var canvasRect: Rect
        var contentSize: Size
        var crop: UnitRect
    }

    private let outputs: [OutputConfig]
    /// Vertical seams: x on the canvas → mullion width in px; horizontal seams: y → height.
    private let vertical: [(at: Int, span: ClosedRange<Int>, mullion: Double)]
    private let horizontal: [(at: Int, span: ClosedRange<Int>, mullion: Double)]

    init(outputs: [OutputConfig]) {
        self.outputs = outputs
        var v: [(Int, ClosedRange<Int>, Double)] = []
        var h: [(Int, ClosedRange<Int>, Double)] = []
        for a in outputs {
            for b in outputs where a.id != b.id {
                let ra = a.canvasRect, rb = b.canvasRect
                // b directly right of a, sharing some rows.
                if ra.maxX == rb.minX, ra.minY < rb.maxY, rb.minY < ra.maxY {
                    let m = Self.mm(a.bezel.right, a.pixelPitch?.x) + Self.mm(b.bezel.left, b.pixelPitch?.x)
                    v.append((ra.maxX, max(ra.minY, rb.minY)...min(ra.maxY, rb.maxY), m))
                }
                // b directly below a, sharing some columns.
                if ra.maxY == rb.minY, ra.minX < rb.maxX, rb.minX < ra.maxX {
                    let m = Self.mm(a.bezel.bottom, a.pixelPitch?.y) + Self.mm(b.bezel.top, b.pixelPitch?.y)
                    h.append((ra.maxY, max(ra.minX, rb.minX)...min(ra.maxX, rb.maxX), m))
                }
            }
        }
        vertical = v.map { (at: $0.0, span: $0.1, mullion: $0.2) }
        horizontal = h.map { (at: $0.0, span: $0.1, mullion: $0.2) }
    }

    private static func mm(_ bezel: Double, _ pitch: Double?) -> Double {
        guard let pitch, pitch > 0 else { return 0 }
        let px = bezel / pitch
        return px.isFinite && px > 0 ? px : 0
    }

    /// A picture extent in whole pixels. The decoder's bounds (LayoutLimits) keep it below 1.3e10,
    /// so this never clamps for a decoded layout; the clamp keeps the Double→Int conversion from
    /// trapping for a `Layout` built by hand with any values.
    static func pixels(_ d: Double) -> Int {
        guard d.isFinite else { return 1 }
        return Int(min(max(d.rounded(), 1), 1e15))
    }

    /// The hidden width at each seam line a zone crosses (the widest where displays differ).
    private func mullions(_ seams: [(at: Int, span: ClosedRange<Int>, mullion: Double)], from lo: Int, to hi: Int,
                          across range: ClosedRange<Int>) -> [(at: Int, width: Double)] {
        var byLine: [Int: Double] = [:]
        for s in seams where s.at > lo && s.at < hi && s.span.overlaps(range) {
            byLine[s.at] = max(byLine[s.at] ?? 0, s.mullion)
        }
        return byLine.sorted { $0.key < $1.key }.map { (at: $0.key, width: $0.value) }
    }

    /// The zone cut at display edges, each piece with the part of the whole picture it shows.
    func pieces(of zone: Rect) -> [Piece] {
        let xs = mullions(vertical, from: zone.minX, to: zone.maxX, across: zone.minY...zone.maxY)
        let ys = mullions(horizontal, from: zone.minY, to: zone.maxY, across: zone.minX...zone.maxX)
        let fullW = Double(zone.width) + xs.reduce(0) { $0 + $1.width }
        let fullH = Double(zone.height) + ys.reduce(0) { $0 + $1.width }
        // Position within the picture of a canvas coordinate; a piece that starts on a seam starts
        // after that seam's mullion.
        func pictureX(_ x: Int, startingPiece: Bool) -> Double {
            Double(x - zone.minX) + xs.filter { startingPiece ? $0.at <= x : $0.at < x }.reduce(0) { $0 + $1.width }
        }
        func pictureY(_ y: Int, startingPiece: Bool) -> Double {
            Double(y - zone.minY) + ys.filter { startingPiece ? $0.at <= y : $0.at < y }.reduce(0) { $0 + $1.width }
        }
        return outputs.enumerated().compactMap { i, o in
            guard let r = zone.intersection(o.canvasRect) else { return nil }
            let x0 = pictureX(r.minX, startingPiece: true), x1 = pictureX(r.maxX, startingPiece: false)
            let y0 = pictureY(r.minY, startingPiece: true), y1 = pictureY(r.maxY, startingPiece: false)
            let crop = r == zone ? UnitRect.full
                : UnitRect(x: x0 / fullW, y: y0 / fullH, width: (x1 - x0) / fullW, height: (y1 - y0) / fullH)
            return Piece(output: i, canvasRect: r,
                         contentSize: Size(width: Self.pixels(fullW), height: Self.pixels(fullH)), crop: crop)
        }
    }
}
