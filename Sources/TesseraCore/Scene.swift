/// What every output shows at one instant: the product of the layout engine, read by renderers.
/// A value, built off the render thread and handed over whole.

/// How a picture fills its tile.
public enum Fit: String, Hashable, Sendable, Codable {
    /// The whole picture, letterboxed with the tile background.
    case contain
    /// The tile filled, the picture cropped at its edges.
    case cover
}

public enum LabelPosition: String, Hashable, Sendable, Codable, CaseIterable {
    case topLeft = "top-left", topRight = "top-right", bottomLeft = "bottom-left", bottomRight = "bottom-right"
}

public struct Label: Hashable, Sendable, Codable {
    public var text: String
    public var position: LabelPosition
    /// Font size in output pixels.
    public var size: Int
    public init(text: String, position: LabelPosition, size: Int) {
        self.text = text; self.position = position; self.size = size
    }
}

public struct Border: Hashable, Sendable, Codable {
    public var width: Int
    public var color: Color
    public init(width: Int, color: Color) { self.width = width; self.color = color }
}

/// Why a tile is outlined: a raised hand wins over the active speaker.
public enum HighlightReason: String, Hashable, Sendable, Codable {
    case handRaised = "hand"
    case activeSpeaker = "speaker"
}

public struct Highlight: Hashable, Sendable, Codable {
    public var reason: HighlightReason
    public var width: Int
    public var color: Color
    public init(reason: HighlightReason, width: Int, color: Color) {
        self.reason = reason; self.width = width; self.color = color
    }
}

public struct Tile: Hashable, Sendable, Codable {
    /// Who is shown; nil for a zone with nothing to show (the renderer draws `slate`).
    public var participant: ParticipantID?
    public var stream: StreamKind
    /// The layout zone this tile belongs to.
    public var zone: String
    /// Where, in the output's logical pixels (after rotation: what a viewer sees).
    public var rect: Rect
    /// The size of the whole picture box this tile is part of. Equal to `rect.size` unless the zone
    /// spans outputs, where each output shows the part `crop` of one picture of this size.
    public var contentSize: Size
    /// Which part of the picture box (after `fit`) this tile shows.
    public var crop: UnitRect
    public var fit: Fit
    public var background: Color
    public var border: Border?
    public var label: Label?
    public var highlight: Highlight?
    /// Text for a tile with no participant (e.g. "No teacher connected").
    public var slate: String?

    public init(participant: ParticipantID?, stream: StreamKind = .camera, zone: String, rect: Rect,
                contentSize: Size? = nil, crop: UnitRect = .full, fit: Fit, background: Color,
                border: Border? = nil, label: Label? = nil, highlight: Highlight? = nil, slate: String? = nil) {
        self.participant = participant; self.stream = stream; self.zone = zone; self.rect = rect
        self.contentSize = contentSize ?? rect.size; self.crop = crop; self.fit = fit
        self.background = background; self.border = border; self.label = label
        self.highlight = highlight; self.slate = slate
    }
}

/// Output rotation, clockwise, as the viewer's picture is turned onto the panel.
public enum Rotation: Int, Hashable, Sendable, Codable, CaseIterable {
    case none = 0, quarter = 90, half = 180, threeQuarters = 270
    /// Whether the picture's width and height swap on the panel.
    public var swapsAxes: Bool { self == .quarter || self == .threeQuarters }
}

public struct OutputScene: Hashable, Sendable, Codable {
    public var id: String
    /// Logical size: the mode's size, swapped for 90/270 rotation.
    public var size: Size
    public var rotation: Rotation
    public var background: Color
    /// In drawing order: later tiles are drawn over earlier ones.
    public var tiles: [Tile]
    public init(id: String, size: Size, rotation: Rotation, background: Color, tiles: [Tile]) {
        self.id = id; self.size = size; self.rotation = rotation; self.background = background; self.tiles = tiles
    }
}

public struct Scene: Hashable, Sendable, Codable {
    public var preset: String
    /// The page shown (0-based) and how many there are, over the preset's grid zones.
    public var page: Int
    public var pageCount: Int
    public var outputs: [OutputScene]
    public init(preset: String, page: Int, pageCount: Int, outputs: [OutputScene]) {
        self.preset = preset; self.page = page; self.pageCount = pageCount; self.outputs = outputs
    }

    /// Every participant that appears, once each, in first-appearance order.
    public var participants: [ParticipantID] {
        var seen = Set<ParticipantID>()
        return outputs.flatMap(\.tiles).compactMap(\.participant).filter { seen.insert($0).inserted }
    }
}
