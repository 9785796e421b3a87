import TesseraCore

/// Places equal tiles of a fixed aspect into one or more cells (the parts of a zone on each output,
/// so no tile straddles a display seam), as large as they can be while all of them fit.
///
/// For one cell this is the classic best grid: no other columns × rows arrangement gives larger
/// tiles (tiles are compared by height; the width follows from the aspect). For several cells the same tile size is used everywhere, so a grid spanning displays
/// looks like one grid.
public enum Tiler {
    public struct Placement: Hashable, Sendable {
        /// In reading order: cells top to bottom, left to right; within a cell, row by row.
        public var tiles: [Rect]
        public var tileSize: Size
    }

    /// How many tiles `h` px high (width from `aspect`) fit in `cell` with `gap` between them.
    public static func capacity(of cell: Rect, tileHeight h: Int, aspect: Aspect, gap: Int) -> (columns: Int, rows: Int) {
        let w = aspect.width(forHeight: h)
        guard h >= 1, cell.width >= w, cell.height >= h else { return (0, 0) }
        return ((cell.width + gap) / (w + gap), (cell.height + gap) / (h + gap))
    }

    static func totalCapacity(of cells: [Rect], tileHeight h: Int, aspect: Aspect, gap: Int) -> Int {
        cells.reduce(0) { sum, cell in
            let c = capacity(of: cell, tileHeight: h, aspect: aspect, gap: gap)
            return sum + c.columns * c.rows
        }
    }

    /// The largest tile height such that the cells together hold `count` tiles, or nil when even
    /// 1 px high tiles do not give room for all of them. Tiles are measured by height, the width
    /// following from the aspect rounded up, so a 16:9 tile is 640x360 and not 641x360.
    public static func bestTileHeight(count: Int, cells: [Rect], aspect: Aspect, gap: Int) -> Int? {
        guard count > 0, let tallest = cells.map(\.height).max(), totalCapacity(of: cells, tileHeight: 1, aspect: aspect, gap: gap) >= count
        else { return nil }
        // Capacity never grows with the height, so the answer is the last height that still holds `count`.
        var lo = 1, hi = tallest
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if totalCapacity(of: cells, tileHeight: mid, aspect: aspect, gap: gap) >= count { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The most tiles at least `minHeight` px high that the cells can hold.
    public static func maxCount(cells: [Rect], aspect: Aspect, gap: Int, minHeight: Int) -> Int {
        totalCapacity(of: cells, tileHeight: max(1, minHeight), aspect: aspect, gap: gap)
    }

    /// Places `count` tiles. When they cannot all fit even at 1 px high, as many as fit are placed.
    public static func place(count: Int, in cells: [Rect], aspect: Aspect, gap: Int) -> Placement {
        let cells = cells.filter { !$0.isEmpty }.sorted { ($0.y, $0.x) < ($1.y, $1.x) }
        // Too many for the space: place what the smallest tiles allow.
        let count = min(count, totalCapacity(of: cells, tileHeight: 1, aspect: aspect, gap: gap))
        guard let h = bestTileHeight(count: count, cells: cells, aspect: aspect, gap: gap) else {
            return Placement(tiles: [], tileSize: Size(width: 0, height: 0))
        }
        let w = aspect.width(forHeight: h)
        let caps = cells.map { capacity(of: $0, tileHeight: h, aspect: aspect, gap: gap) }
        let counts = share(count, capacities: caps.map { $0.columns * $0.rows })

        var tiles: [Rect] = []
        tiles.reserveCapacity(count)
        for (i, cell) in cells.enumerated() where counts[i] > 0 {
            let n = counts[i]
            // As few rows as the cell's width allows, then the columns balanced over them.
            let rows = (n + caps[i].columns - 1) / caps[i].columns
            let columns = (n + rows - 1) / rows
            let blockHeight = rows * h + (rows - 1) * gap
            let top = cell.y + (cell.height - blockHeight) / 2
            for row in 0..<rows {
                let inRow = min(columns, n - row * columns)
                let rowWidth = inRow * w + (inRow - 1) * gap
                let left = cell.x + (cell.width - rowWidth) / 2
                for col in 0..<inRow {
                    tiles.append(Rect(x: left + col * (w + gap), y: top + row * (h + gap), width: w, height: h))
                }
            }
        }
        return Placement(tiles: tiles, tileSize: Size(width: w, height: h))
    }

    /// Splits `count` over cells in proportion to what each holds, never more than it holds: each
    /// cell gets the whole part of `count × capacity ÷ total`, and the tiles rounding leaves go one
    /// each to the earliest cells (reading order) that have room, so 20 tiles over three equal cells
    /// are 7, 7 and 6. The product is taken at full width and divided back, so no count or capacity
    /// can overflow it (the quotient is at most `count`).
    static func share(_ count: Int, capacities: [Int]) -> [Int] {
        let total = capacities.reduce(0) { $0 + max(0, $1) }
        guard total > 0, count > 0 else { return capacities.map { _ in 0 } }
        let count = min(count, total)
        var counts = capacities.map { cap -> Int in
            guard cap > 0 else { return 0 }
            return total.dividingFullWidth(count.multipliedFullWidth(by: cap)).quotient
        }
        var left = count - counts.reduce(0, +)
        while left > 0 {
            var gave = false
            for i in counts.indices where left > 0 && counts[i] < capacities[i] {
                counts[i] += 1
                left -= 1
                gave = true
            }
            if !gave { break }
        }
        return counts
    }
}
