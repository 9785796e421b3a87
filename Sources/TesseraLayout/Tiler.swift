import TesseraCore

/// Places equal tiles of a fixed aspect into one or more cells (the parts of a zone on each output,
/// so no tile straddles a display seam), as large as they can be while all of them fit.
///
/// For one cell this is the classic best grid: no other columns × rows arrangement gives larger
/// tiles. For several cells the same tile size is used everywhere, so a grid spanning displays
/// looks like one grid.
public enum Tiler {
    public struct Placement: Hashable, Sendable {
        /// In reading order: cells top to bottom, left to right; within a cell, row by row.
        public var tiles: [Rect]
        public var tileSize: Size
    }

    /// How many tiles of width `w` (height from `aspect`) fit in `cell` with `gap` between them.
    public static func capacity(of cell: Rect, tileWidth w: Int, aspect: Aspect, gap: Int) -> (columns: Int, rows: Int) {
        let h = aspect.height(forWidth: w)
        guard w >= 1, h >= 1, cell.width >= w, cell.height >= h else { return (0, 0) }
        return ((cell.width + gap) / (w + gap), (cell.height + gap) / (h + gap))
    }

    /// The largest tile width such that the cells together hold `count` tiles, or nil when even the
    /// smallest tile (1 px high) does not give room for all of them.
    public static func bestTileWidth(count: Int, cells: [Rect], aspect: Aspect, gap: Int) -> Int? {
        func total(_ w: Int) -> Int {
            cells.reduce(0) { sum, cell in
                let c = capacity(of: cell, tileWidth: w, aspect: aspect, gap: gap)
                return sum + c.columns * c.rows
            }
        }
        // The smallest width that is at least 1 px high.
        var lo = (aspect.width + aspect.height - 1) / aspect.height
        guard count > 0, let widest = cells.map(\.width).max(), lo <= widest, total(lo) >= count else { return nil }
        var hi = widest
        // Capacity never grows with the width, so the answer is the last width that still holds `count`.
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if total(mid) >= count { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The most tiles at least `minHeight` px high (or of any size when nil) that the cells can hold.
    public static func maxCount(cells: [Rect], aspect: Aspect, gap: Int, minHeight: Int) -> Int {
        let w = (minHeight * aspect.width + aspect.height - 1) / aspect.height
        return cells.reduce(0) { sum, cell in
            let c = capacity(of: cell, tileWidth: max(1, w), aspect: aspect, gap: gap)
            return sum + c.columns * c.rows
        }
    }

    /// Places `count` tiles. When they cannot all fit even at 1 px high, as many as fit are placed.
    public static func place(count: Int, in cells: [Rect], aspect: Aspect, gap: Int) -> Placement {
        let cells = cells.filter { !$0.isEmpty }.sorted { ($0.y, $0.x) < ($1.y, $1.x) }
        var count = count
        var width = bestTileWidth(count: count, cells: cells, aspect: aspect, gap: gap)
        if width == nil, count > 0 {
            // Too many for the space: place what the smallest tiles allow.
            let smallest = (aspect.width + aspect.height - 1) / aspect.height
            count = min(count, cells.reduce(0) { s, c in
                let cap = capacity(of: c, tileWidth: smallest, aspect: aspect, gap: gap); return s + cap.columns * cap.rows
            })
            width = count > 0 ? bestTileWidth(count: count, cells: cells, aspect: aspect, gap: gap) : nil
        }
        guard let w = width else { return Placement(tiles: [], tileSize: Size(width: 0, height: 0)) }
        let h = aspect.height(forWidth: w)
        let caps = cells.map { capacity(of: $0, tileWidth: w, aspect: aspect, gap: gap) }
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

    /// Splits `count` over cells in proportion to what each holds, never more than it holds;
    /// what rounding leaves goes to the earliest cells with room.
    static func share(_ count: Int, capacities: [Int]) -> [Int] {
        let total = capacities.reduce(0, +)
        guard total > 0 else { return capacities.map { _ in 0 } }
        var counts = capacities.map { count * $0 / total }
        var left = count - counts.reduce(0, +)
        for i in counts.indices where left > 0 {
            let add = min(left, capacities[i] - counts[i])
            counts[i] += add
            left -= add
        }
        return counts
    }
}
