import Testing
import TesseraCore
@testable import TesseraLayout

@Suite struct TilerTests {
    /// The best tile height over every columns × rows grid, worked out directly: for each column
    /// count, the tallest tile whose width (from the aspect, rounded up) fits across and whose
    /// height fits down.
    static func bruteForceBestHeight(count n: Int, in r: Rect, aspect a: Aspect, gap g: Int) -> Int {
        var best = 0
        for columns in 1...n {
            let rows = (n + columns - 1) / columns
            let maxW = (r.width - (columns - 1) * g) / columns
            var h = (r.height - (rows - 1) * g) / rows
            while h > 0 && a.width(forHeight: h) > maxW { h -= 1 }
            best = max(best, h)
        }
        return best
    }

    static func checkGeometry(_ tiles: [Rect], cells: [Rect], gap: Int, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for (i, t) in tiles.enumerated() {
            let cell = cells.first { $0.contains(t) }
            #expect(cell != nil, "tile \(t) is inside one cell (never across a seam)", sourceLocation: sourceLocation)
            for u in tiles[(i + 1)...] {
                #expect(!t.intersects(u), "\(t) and \(u) do not overlap", sourceLocation: sourceLocation)
                // Across a seam the bezel separates tiles; within a cell the gap does.
                guard let cell, cell.contains(u) else { continue }
                // Tiles keep at least `gap` between them: grown by the gap they still do not overlap.
                func grown(_ r: Rect) -> Rect { Rect(x: r.x, y: r.y, width: r.width + gap, height: r.height + gap) }
                #expect(!grown(t).intersects(u) && !grown(u).intersects(t), "\(t) and \(u) keep the gap", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func propertiesInOneZone() {
        var rng = SplitMix64(seed: 0x7e55e7a)
        let aspects = [Aspect(width: 16, height: 9), Aspect(width: 4, height: 3), Aspect(width: 1, height: 1), Aspect(width: 9, height: 16)]
        for _ in 0..<400 {
            let zone = Rect(x: Int.random(in: 0...500, using: &rng), y: Int.random(in: 0...500, using: &rng),
                            width: Int.random(in: 40...4000, using: &rng), height: Int.random(in: 40...2400, using: &rng))
            let n = Int.random(in: 1...260, using: &rng)
            let gap = Int.random(in: 0...16, using: &rng)
            let aspect = aspects.randomElement(using: &rng)!
            let p = Tiler.place(count: n, in: [zone], aspect: aspect, gap: gap)
            let best = Self.bruteForceBestHeight(count: n, in: zone, aspect: aspect, gap: gap)
            if best == 0 {
                #expect(p.tiles.count < n, "no grid holds \(n) in \(zone): fewer are placed")
                continue
            }
            #expect(p.tiles.count == n, "\(n) tiles in \(zone)")
            #expect(p.tileSize.height == best, "no other grid gives larger tiles: \(n) in \(zone) gap \(gap) aspect \(aspect)")
            #expect(p.tileSize.width == aspect.width(forHeight: best))
            #expect(p.tiles.allSatisfy { $0.size == p.tileSize })
            Self.checkGeometry(p.tiles, cells: [zone], gap: gap)
            // Centred: the margins left and right of the block differ by at most a pixel.
            let left = p.tiles.map(\.minX).min()! - zone.minX, right = zone.maxX - p.tiles.map(\.maxX).max()!
            let top = p.tiles.map(\.minY).min()! - zone.minY, bottom = zone.maxY - p.tiles.map(\.maxY).max()!
            #expect(abs(left - right) <= 1 && abs(top - bottom) <= 1, "centred in \(zone)")
        }
    }

    @Test func propertiesAcrossSeams() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<150 {
            // A zone over a 2×2 wall of random displays, cut into cells at the seams.
            let w = Int.random(in: 200...1920, using: &rng), h = Int.random(in: 200...1080, using: &rng)
            let outputs = [Rect(x: 0, y: 0, width: w, height: h), Rect(x: w, y: 0, width: w, height: h),
                           Rect(x: 0, y: h, width: w, height: h), Rect(x: w, y: h, width: w, height: h)]
            let zone = Rect(x: Int.random(in: 0..<w / 2, using: &rng), y: Int.random(in: 0..<h / 2, using: &rng),
                            width: Int.random(in: w...(2 * w - w / 2), using: &rng), height: Int.random(in: h...(2 * h - h / 2), using: &rng))
            let cells = outputs.compactMap { zone.intersection($0) }
            let n = Int.random(in: 1...250, using: &rng), gap = Int.random(in: 0...12, using: &rng)
            let p = Tiler.place(count: n, in: cells, aspect: .sixteenByNine, gap: gap)
            guard let height = Tiler.bestTileHeight(count: n, cells: cells, aspect: .sixteenByNine, gap: gap) else { continue }
            #expect(p.tiles.count == n)
            Self.checkGeometry(p.tiles, cells: cells, gap: gap)
            // One pixel taller and the cells no longer hold them all.
            let taller = cells.reduce(0) { s, c in
                let cap = Tiler.capacity(of: c, tileHeight: height + 1, aspect: .sixteenByNine, gap: gap); return s + cap.columns * cap.rows
            }
            #expect(taller < n, "tile height \(height) is the largest that holds \(n)")
            #expect(p.tileSize == Size(width: Aspect.sixteenByNine.width(forHeight: height), height: height))
        }
    }

    @Test(arguments: [(10, [5, 5], [5, 5]), (7, [10, 2], [6, 1]), (9, [3, 3, 3], [3, 3, 3]), (4, [0, 6], [0, 4]), (3, [1, 1, 4], [1, 0, 2]),
                      // What rounding leaves goes one each to the earliest cells, as docs/layouts.md says:
                      // 20 over three equal cells is 7/7/6 (it was 8/6/6).
                      (20, [9, 9, 9], [7, 7, 6]), (22, [8, 8, 8], [8, 7, 7]), (5, [4, 4, 4, 4], [2, 1, 1, 1]),
                      // Counts and capacities whose product overflows Int are shared without trapping.
                      (Int.max / 4 * 2, [Int.max / 4, Int.max / 4], [Int.max / 4, Int.max / 4])])
    func shareFollowsCapacity(count: Int, capacities: [Int], expected: [Int]) {
        let s = Tiler.share(count, capacities: capacities)
        #expect(s.reduce(0, +) == count)
        #expect(zip(s, capacities).allSatisfy { $0 <= $1 })
        #expect(s == expected)
    }

    /// Issue 13: 20 tiles over three 1920x1080 screens were shared 8/6/6.
    @Test func twentyTilesOverThreeScreensAreSevenSevenSix() {
        let cells = (0..<3).map { Rect(x: $0 * 1920, y: 0, width: 1920, height: 1080) }
        let p = Tiler.place(count: 20, in: cells, aspect: .sixteenByNine, gap: 8)
        #expect(cells.map { c in p.tiles.filter { c.contains($0) }.count } == [7, 7, 6])
    }

    @Test func readingOrderAndKnownGrid() {
        // 6 tiles of 16:9 in 1920x1080 without gaps: 3 columns × 2 rows of 640x360, centred vertically.
        let p = Tiler.place(count: 6, in: [Rect(x: 0, y: 0, width: 1920, height: 1080)], aspect: .sixteenByNine, gap: 0)
        #expect(p.tiles == [
            Rect(x: 0, y: 180, width: 640, height: 360), Rect(x: 640, y: 180, width: 640, height: 360), Rect(x: 1280, y: 180, width: 640, height: 360),
            Rect(x: 0, y: 540, width: 640, height: 360), Rect(x: 640, y: 540, width: 640, height: 360), Rect(x: 1280, y: 540, width: 640, height: 360),
        ])
        // A short last row is centred.
        let q = Tiler.place(count: 5, in: [Rect(x: 0, y: 0, width: 1920, height: 1080)], aspect: .sixteenByNine, gap: 0)
        #expect(q.tiles.suffix(2) == [Rect(x: 320, y: 540, width: 640, height: 360), Rect(x: 960, y: 540, width: 640, height: 360)])
    }

    @Test func tooManyForTheSpacePlacesWhatFits() {
        // The smallest 16:9 tile is 2x1 px (1 high, width rounded up): 10 across and 4 down fit in 20x4, so 40 of the 100.
        let p = Tiler.place(count: 100, in: [Rect(x: 0, y: 0, width: 20, height: 4)], aspect: .sixteenByNine, gap: 0)
        #expect(p.tiles.count == 40)
        #expect(p.tileSize == Size(width: 2, height: 1))
        #expect(Tiler.place(count: 3, in: [Rect(x: 0, y: 0, width: 1, height: 1)], aspect: .sixteenByNine, gap: 0).tiles.isEmpty)
    }
}
