import TesseraCore

/// Where a tile's picture lands and which part of the source it comes from: the one place both
/// renderers take fit/crop math from, so they draw the same picture.
struct TilePlacement: Equatable {
    /// The visible part of the picture, in the output's logical pixels (inside the tile rect).
    var destination: Rect
    /// The source region shown in `destination`, in source pixels (may be fractional).
    var sourceX: Double, sourceY: Double, sourceWidth: Double, sourceHeight: Double

    /// The picture of `picture` size fitted (`fit`) into a box of `tile.contentSize`, of which the tile
    /// shows the `tile.crop` part in `tile.rect`. Nil when no part of the picture is visible.
    static func place(picture: Size, in tile: Tile) -> TilePlacement? {
        let boxW = Double(tile.contentSize.width), boxH = Double(tile.contentSize.height)
        let w = Double(picture.width), h = Double(picture.height)
        guard w > 0, h > 0, boxW > 0, boxH > 0, !tile.rect.isEmpty, tile.crop.width > 0, tile.crop.height > 0 else { return nil }
        let scale = tile.fit == .contain ? min(boxW / w, boxH / h) : max(boxW / w, boxH / h)
        // The picture in box coordinates, centred.
        let px = (boxW - w * scale) / 2, py = (boxH - h * scale) / 2
        // Box → tile: the crop part of the box fills the tile rect.
        let cx = tile.crop.x * boxW, cy = tile.crop.y * boxH
        let sx = Double(tile.rect.width) / (tile.crop.width * boxW), sy = Double(tile.rect.height) / (tile.crop.height * boxH)
        func toTileX(_ bx: Double) -> Double { Double(tile.rect.x) + (bx - cx) * sx }
        func toTileY(_ by: Double) -> Double { Double(tile.rect.y) + (by - cy) * sy }
        // The picture's rect on the output, rounded to whole pixels, clipped to the tile.
        let x0 = max(Int(toTileX(px).rounded()), tile.rect.minX), x1 = min(Int(toTileX(px + w * scale).rounded()), tile.rect.maxX)
        let y0 = max(Int(toTileY(py).rounded()), tile.rect.minY), y1 = min(Int(toTileY(py + h * scale).rounded()), tile.rect.maxY)
        guard x1 > x0, y1 > y0 else { return nil }
        // And back: output pixels → box → source pixels.
        func toSourceX(_ ox: Int) -> Double { ((Double(ox) - Double(tile.rect.x)) / sx + cx - px) / scale }
        func toSourceY(_ oy: Int) -> Double { ((Double(oy) - Double(tile.rect.y)) / sy + cy - py) / scale }
        let s0x = max(0, toSourceX(x0)), s1x = min(w, toSourceX(x1))
        let s0y = max(0, toSourceY(y0)), s1y = min(h, toSourceY(y1))
        return TilePlacement(destination: Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0),
                             sourceX: s0x, sourceY: s0y, sourceWidth: s1x - s0x, sourceHeight: s1y - s0y)
    }
}

/// What a tile shows this frame, decided once per frame for both renderers.
enum TileContent {
    /// A picture from the stream.
    case picture(any VideoFrame)
    /// A slate: one or two centred lines on the tile background (empty zone, offline stream).
    case slate(title: String, detail: String?)

    /// A participant's stream shows its picture while it plays; with no frame yet, or offline or
    /// stalled, the tile shows the name and state instead (a frozen picture would mislead the room).
    /// A dma-buf frame with no CPU copy shows the slate unless the renderer `importsDMABuf`.
    static func decide(for tile: Tile, sources: any FrameSourceLookup, importsDMABuf: Bool = false,
                       names: (Tile) -> String) -> TileContent {
        guard let participant = tile.participant else { return .slate(title: tile.slate ?? "", detail: nil) }
        guard let source = sources.source(for: StreamID(participant, tile.stream)) else {
            return .slate(title: names(tile), detail: "offline")
        }
        let state = source.state
        if state == .playing || state == .connecting, let frame = source.latestFrame() {
            if !frame.hasCPUPlanes && !(importsDMABuf && frame.dmaBuf != nil) {
                return .slate(title: names(tile), detail: Self.unimportable)
            }
            return .picture(frame)
        }
        return .slate(title: names(tile), detail: state == .playing ? "connecting" : state.rawValue)
    }

    /// The slate's detail line for a hardware frame this renderer cannot draw.
    static let unimportable = "hardware frame"

    /// The name a tile's slate shows: the label's text, else the participant id.
    static func name(of tile: Tile) -> String {
        tile.label?.text ?? tile.participant?.rawValue ?? ""
    }
}

/// Sizes and colours of the decorations both renderers draw, in one place.
enum Decoration {
    /// Label plate: translucent black behind white text.
    static let labelPlate = Color(red: 0, green: 0, blue: 0, alpha: 160)
    static let labelText = Color(red: 255, green: 255, blue: 255)
    static let slateText = Color(red: 200, green: 204, blue: 208)

    /// Padding around label text inside its plate, and the plate's distance from the tile edge.
    static func labelPadding(size: Int) -> (x: Int, y: Int) { (max(2, size / 3), max(1, size / 6)) }
    static func labelMargin(for tile: Tile) -> Int {
        max(tile.border?.width ?? 0, tile.highlight?.width ?? 0) + max(2, (tile.label?.size ?? 0) / 4)
    }

    /// Slate text sizes for a tile: the title about an eighth of the tile height.
    static func slateSizes(for rect: Rect) -> (title: Int, detail: Int) {
        let title = min(96, max(10, rect.height / 8))
        return (title, max(8, title * 2 / 3))
    }

    /// Frames drawn inside the tile's edge, border first, then the highlight over it: inside, so
    /// that a frame never covers a neighbour or the gap and a tile's pixels stay in its rect.
    static func frames(for tile: Tile) -> [(width: Int, color: Color)] {
        var out: [(Int, Color)] = []
        if let b = tile.border, b.width > 0 { out.append((b.width, b.color)) }
        if let h = tile.highlight, h.width > 0 { out.append((h.width, h.color)) }
        return out
    }

    /// The four strips of a frame of `width` inside `rect`.
    static func strips(of rect: Rect, width: Int) -> [Rect] {
        let w = min(width, rect.width / 2, rect.height / 2)
        guard w > 0 else { return [] }
        return [Rect(x: rect.x, y: rect.y, width: rect.width, height: w),
                Rect(x: rect.x, y: rect.maxY - w, width: rect.width, height: w),
                Rect(x: rect.x, y: rect.y + w, width: w, height: rect.height - 2 * w),
                Rect(x: rect.maxX - w, y: rect.y + w, width: w, height: rect.height - 2 * w)]
    }

    /// Where a label plate of `plate` size sits in the tile.
    static func labelOrigin(plate: Size, in tile: Tile, position: LabelPosition) -> Point {
        let m = labelMargin(for: tile), r = tile.rect
        let x = (position == .topLeft || position == .bottomLeft) ? r.x + m : r.maxX - m - plate.width
        let y = (position == .topLeft || position == .topRight) ? r.y + m : r.maxY - m - plate.height
        return Point(x: max(r.x, x), y: max(r.y, y))
    }
}
