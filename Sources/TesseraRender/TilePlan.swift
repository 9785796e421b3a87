import TesseraCore

/// A drawing step both renderers execute the same way, in logical output pixels.
enum DrawOp {
    /// Fill `rect` with `color` (blended when alpha < 255).
    case fill(Rect, Color)
    /// Text coverage at `origin` in `color`, clipped to `clip`.
    case text(TextImage, origin: Point, clip: Rect, color: Color)
}

/// Everything one tile draws this frame: what is under the picture, the picture, what is over it.
/// Built on the render thread (it touches the text cache); executed by either renderer.
struct TilePlan {
    var tile: Tile
    var frame: (any VideoFrame)?
    var placement: TilePlacement?
    var under: [DrawOp]
    var over: [DrawOp]
    /// What the tile looked like, to tell whether a target already holds this picture.
    var stamp: TileStamp

    /// `importsDMABuf`: the renderer draws dma-buf frames itself (GLES with the import extension).
    static func make(_ tile: Tile, sources: any FrameSourceLookup, text: TextCache, importsDMABuf: Bool = false) -> TilePlan {
        let content = TileContent.decide(for: tile, sources: sources, importsDMABuf: importsDMABuf, names: TileContent.name(of:))
        var under: [DrawOp] = [], over: [DrawOp] = []
        var frame: (any VideoFrame)?
        var placement: TilePlacement?
        var slateText: String?
        switch content {
        case .picture(let f):
            frame = f
            placement = TilePlacement.place(picture: f.size, in: tile)
            let shown = placement?.destination ?? Rect(x: tile.rect.x, y: tile.rect.y, width: 0, height: 0)
            for strip in tile.rect.subtracting(shown) { under.append(.fill(strip, tile.background)) }
        case .slate(let title, let detail):
            slateText = title + "\n" + (detail ?? "")
            under.append(.fill(tile.rect, tile.background))
            let sizes = Decoration.slateSizes(for: tile.rect)
            let lines = [(title, sizes.title), (detail ?? "", sizes.detail)].filter { !$0.0.isEmpty }
            // A line too wide for the tile (long names, narrow portrait tiles) shrinks, to two
            // thirds of its size at most, then ends in an ellipsis.
            let room = max(1, tile.rect.width - 2 * max(4, tile.rect.width / 16))
            let images = lines.map { line, size in
                let first = text.image(line, size: size)
                guard first.width > room else { return first }
                return text.image(line, size: max(6, size * 2 / 3, size * room / first.width), maxWidth: room)
            }
            let gap = sizes.detail / 3
            let total = images.reduce(0) { $0 + $1.height } + gap * max(0, images.count - 1)
            var y = tile.rect.y + (tile.rect.height - total) / 2
            for image in images {
                let x = tile.rect.x + (tile.rect.width - image.width) / 2
                under.append(.text(image, origin: Point(x: x, y: y), clip: tile.rect, color: Decoration.slateText))
                y += image.height + gap
            }
        }
        for f in Decoration.frames(for: tile) {
            for strip in Decoration.strips(of: tile.rect, width: f.width) { over.append(.fill(strip, f.color)) }
        }
        // The slate already names an offline participant; a label would say it twice.
        if let label = tile.label, frame != nil || tile.participant == nil, !label.text.isEmpty {
            let pad = Decoration.labelPadding(size: label.size)
            let margin = Decoration.labelMargin(for: tile)
            let maxWidth = tile.rect.width - 2 * margin
            // A name wider than the tile ends in an ellipsis, never mid-glyph.
            let image = text.image(label.text, size: label.size, maxWidth: max(0, maxWidth - 2 * pad.x))
            let plate = Size(width: min(image.width + 2 * pad.x, maxWidth), height: image.height + 2 * pad.y)
            if plate.width > 2 * pad.x, plate.height <= tile.rect.height - 2 * margin {
                let o = Decoration.labelOrigin(plate: plate, in: tile, position: label.position)
                let plateRect = Rect(x: o.x, y: o.y, width: plate.width, height: plate.height)
                over.append(.fill(plateRect, Decoration.labelPlate))
                let clip = Rect(x: o.x + pad.x, y: o.y, width: plate.width - 2 * pad.x, height: plate.height)
                over.append(.text(image, origin: Point(x: o.x + pad.x, y: o.y + pad.y), clip: clip, color: Decoration.labelText))
            }
        }
        return TilePlan(tile: tile, frame: frame, placement: placement, under: under, over: over,
                        stamp: TileStamp(tile: tile, frame: frame.map { ObjectIdentifier($0) }, frameRef: frame, slate: slateText))
    }
}

/// What a target holds for one tile. Holding `frameRef` keeps the frame alive, so its identity
/// cannot be reused by a newer frame while the stamp exists.
struct TileStamp {
    var tile: Tile
    var frame: ObjectIdentifier?
    var frameRef: (any VideoFrame)?
    var slate: String?
    func same(as other: TileStamp) -> Bool { tile == other.tile && frame == other.frame && slate == other.slate }
}

extension Rect {
    /// The parts of `self` outside `hole` (up to four bands).
    func subtracting(_ hole: Rect) -> [Rect] {
        guard let h = intersection(hole) else { return [self] }
        var out: [Rect] = []
        if h.minY > minY { out.append(Rect(x: x, y: y, width: width, height: h.minY - minY)) }
        if h.maxY < maxY { out.append(Rect(x: x, y: h.maxY, width: width, height: maxY - h.maxY)) }
        if h.minX > minX { out.append(Rect(x: x, y: h.minY, width: h.minX - minX, height: h.height)) }
        if h.maxX < maxX { out.append(Rect(x: h.maxX, y: h.minY, width: maxX - h.maxX, height: h.height)) }
        return out
    }
}
