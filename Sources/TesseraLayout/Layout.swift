import TesseraCore

/// A layout file (format v1), decoded and checked. See docs/layouts.md for the format.
public struct Layout: Hashable, Sendable {
    public static let formatVersion = 1

    public var name: String?
    public var outputs: [OutputConfig]
    public var style: Style
    public var presets: [Preset]
    public var defaultPreset: String
    public var shortcuts: [Shortcut]

    public init(name: String? = nil, outputs: [OutputConfig], style: Style = .default, presets: [Preset],
                defaultPreset: String? = nil, shortcuts: [Shortcut] = []) {
        self.name = name; self.outputs = outputs; self.style = style; self.presets = presets
        self.defaultPreset = defaultPreset ?? presets.first?.name ?? ""
        self.shortcuts = shortcuts
    }

    public func preset(named name: String) -> Preset? { presets.first { $0.name == name } }

    /// The bounding box of all outputs on the wall canvas.
    public var canvas: Rect {
        outputs.dropFirst().reduce(outputs.first?.canvasRect ?? Rect(x: 0, y: 0, width: 0, height: 0)) { $0.union($1.canvasRect) }
    }
}

/// A display mode as written in a layout: `3840x2160@60`; refresh nil means "the display's preferred".
public struct Mode: Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    /// Hz; nil when the layout did not say.
    public var refresh: Double?

    public init(width: Int, height: Int, refresh: Double? = nil) {
        self.width = width; self.height = height; self.refresh = refresh
    }

    /// Parses `WIDTHxHEIGHT` or `WIDTHxHEIGHT@REFRESH`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let dims = parts[0].split(separator: "x", omittingEmptySubsequences: false)
        guard dims.count == 2, dims.allSatisfy({ !$0.isEmpty && $0.count <= 5 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let w = Int(dims[0]), let h = Int(dims[1]), LayoutLimits.modeSide.contains(w), LayoutLimits.modeSide.contains(h) else { return nil }
        var refresh: Double?
        if parts.count == 2 {
            let r = parts[1]
            guard !r.isEmpty, r.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), r.first != ".", r.last != ".",
                  let hz = Double(r), hz > 0, hz <= 1000 else { return nil }
            refresh = hz
        }
        self.init(width: w, height: h, refresh: refresh)
    }

    public var description: String {
        guard let refresh else { return "\(width)x\(height)" }
        let hz = refresh == refresh.rounded() ? String(Int(refresh)) : String(refresh)
        return "\(width)x\(height)@\(hz)"
    }
}

/// Millimetres.
public struct PhysicalSize: Hashable, Sendable {
    public var width: Double
    public var height: Double
    public init(width: Double, height: Double) { self.width = width; self.height = height }
}

/// Bezel widths in millimetres, as the display hangs on the wall (what a viewer sees).
public struct Bezel: Hashable, Sendable {
    public var left: Double, right: Double, top: Double, bottom: Double
    public init(left: Double = 0, right: Double = 0, top: Double = 0, bottom: Double = 0) {
        self.left = left; self.right = right; self.top = top; self.bottom = bottom
    }
    public static let none = Bezel()
}

public struct OutputConfig: Hashable, Sendable {
    public var id: String
    /// A DRM connector name (`HDMI-A-1`) or `any`.
    public var connector: String
    public var mode: Mode
    public var position: Point
    public var rotation: Rotation
    /// The display's picture area in mm, unrotated (as its data sheet gives it).
    public var physical: PhysicalSize?
    /// Bezel widths as mounted: the sides a viewer sees on the wall.
    public var bezel: Bezel

    public init(id: String, connector: String = "any", mode: Mode, position: Point, rotation: Rotation = .none,
                physical: PhysicalSize? = nil, bezel: Bezel = .none) {
        self.id = id; self.connector = connector; self.mode = mode; self.position = position
        self.rotation = rotation; self.physical = physical; self.bezel = bezel
    }

    /// The output's size as viewers see it: the mode, turned for 90/270.
    public var logicalSize: Size {
        rotation.swapsAxes ? Size(width: mode.height, height: mode.width) : Size(width: mode.width, height: mode.height)
    }

    /// Where the output sits on the wall canvas.
    public var canvasRect: Rect {
        Rect(x: position.x, y: position.y, width: logicalSize.width, height: logicalSize.height)
    }

    /// Millimetres per canvas pixel across and down, when the physical size is known.
    public var pixelPitch: (x: Double, y: Double)? {
        guard let physical else { return nil }
        let (w, h) = rotation.swapsAxes ? (physical.height, physical.width) : (physical.width, physical.height)
        return (w / Double(logicalSize.width), h / Double(logicalSize.height))
    }
}

public struct Aspect: Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    public static let sixteenByNine = Aspect(width: 16, height: 9)

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (1...9999).contains(w), (1...9999).contains(h),
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        self.init(width: w, height: h)
    }

    /// The tile width for a height, rounded up to whole pixels (a 360 px high 16:9 tile is 640 wide).
    public func width(forHeight h: Int) -> Int { (h * width + height - 1) / height }
    public var description: String { "\(width):\(height)" }
}

public struct Style: Hashable, Sendable {
    public struct Labels: Hashable, Sendable {
        public var show: Bool
        public var position: LabelPosition
        public var size: Int
    }
    public struct HighlightStyle: Hashable, Sendable {
        public var width: Int
        public var hand: Color
        public var speaker: Color
    }

    public var fit: Fit
    public var aspect: Aspect
    public var gap: Int
    public var border: Border
    public var labels: Labels
    public var highlight: HighlightStyle
    public var background: Color

    public static let `default` = Style(
        fit: .cover, aspect: .sixteenByNine, gap: 8,
        border: Border(width: 0, color: Color(red: 0, green: 0, blue: 0)),
        labels: Labels(show: true, position: .bottomLeft, size: 24),
        highlight: HighlightStyle(width: 6, hand: Color(hex: "#ffb300")!, speaker: Color(hex: "#00e676")!),
        background: Color(hex: "#101418")!)
}

/// A style as written in a file: only the fields given, laid over a base style.
public struct StyleOverride: Hashable, Sendable {
    public var fit: Fit?
    public var aspect: Aspect?
    public var gap: Int?
    public var borderWidth: Int?
    public var borderColor: Color?
    public var labelsShow: Bool?
    public var labelsPosition: LabelPosition?
    public var labelsSize: Int?
    public var highlightWidth: Int?
    public var highlightHand: Color?
    public var highlightSpeaker: Color?
    public var background: Color?

    public init() {}

    public func applied(to base: Style) -> Style {
        var s = base
        if let fit { s.fit = fit }
        if let aspect { s.aspect = aspect }
        if let gap { s.gap = gap }
        if let borderWidth { s.border.width = borderWidth }
        if let borderColor { s.border.color = borderColor }
        if let labelsShow { s.labels.show = labelsShow }
        if let labelsPosition { s.labels.position = labelsPosition }
        if let labelsSize { s.labels.size = labelsSize }
        if let highlightWidth { s.highlight.width = highlightWidth }
        if let highlightHand { s.highlight.hand = highlightHand }
        if let highlightSpeaker { s.highlight.speaker = highlightSpeaker }
        if let background { s.background = background }
        return s
    }
}

public struct Preset: Hashable, Sendable {
    public var name: String
    public var title: String?
    public var zones: [Zone]
    public init(name: String, title: String? = nil, zones: [Zone]) { self.name = name; self.title = title; self.zones = zones }
}

public struct Zone: Hashable, Sendable {
    public var id: String
    /// On the wall canvas.
    public var rect: Rect
    public var content: ZoneContent
    public var style: StyleOverride
    public init(id: String, rect: Rect, content: ZoneContent, style: StyleOverride = StyleOverride()) {
        self.id = id; self.rect = rect; self.content = content; self.style = style
    }
}

public enum ZoneContent: Hashable, Sendable {
    /// An automatic grid of everyone not shown by another zone of the preset.
    case grid(GridRule)
    /// The first teacher to join.
    case teacher
    /// The shared screen.
    case content
    /// One participant, pinned by id.
    case participant(ParticipantID)
    /// The spotlighted participant, else the active speaker.
    case spotlight

    public var typeName: String {
        switch self {
        case .grid: "grid"
        case .teacher: "teacher"
        case .content: "content"
        case .participant: "participant"
        case .spotlight: "spotlight"
        }
    }
}

public enum GridOrder: String, Hashable, Sendable, CaseIterable {
    case join
    case name
    case handsFirst = "hands-first"
}

public struct GridRule: Hashable, Sendable {
    public var order: GridOrder
    public var maxTiles: Int?
    public var minTileHeight: Int?
    /// nil: every role.
    public var roles: Set<Role>?
    public init(order: GridOrder = .join, maxTiles: Int? = nil, minTileHeight: Int? = nil, roles: Set<Role>? = nil) {
        self.order = order; self.maxTiles = maxTiles; self.minTileHeight = minTileHeight; self.roles = roles
    }
}

public enum Action: Hashable, Sendable, CustomStringConvertible {
    case selectPreset(String)
    case presetNext, presetPrevious
    case pageNext, pagePrevious
    case spotlightNext, spotlightPrevious, spotlightClear
    case labelsToggle

    /// The names used in layout files, for the actions that take no argument.
    public static let simpleNames: [(String, Action)] = [
        ("preset.next", .presetNext), ("preset.previous", .presetPrevious),
        ("page.next", .pageNext), ("page.previous", .pagePrevious),
        ("spotlight.next", .spotlightNext), ("spotlight.previous", .spotlightPrevious),
        ("spotlight.clear", .spotlightClear), ("labels.toggle", .labelsToggle),
    ]

    public var description: String {
        if case .selectPreset(let p) = self { return "preset \"\(p)\"" }
        return Action.simpleNames.first { $0.1 == self }!.0
    }
}

public enum Modifier: String, Hashable, Sendable, CaseIterable, Comparable {
    case ctrl = "Ctrl", alt = "Alt", shift = "Shift", superKey = "Super"
    public static func < (a: Modifier, b: Modifier) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A key with modifiers, written `Ctrl+Shift+Right`; the key is an xkbcommon keysym name.
public struct KeyCombo: Hashable, Sendable, CustomStringConvertible {
    public var modifiers: Set<Modifier>
    public var key: String

    public init(modifiers: Set<Modifier> = [], key: String) { self.modifiers = modifiers; self.key = key }

    public init?(_ text: String) {
        let parts = text.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        guard let key = parts.last, !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else { return nil }
        var mods = Set<Modifier>()
        for p in parts.dropLast() {
            guard let m = Modifier.allCases.first(where: { $0.rawValue.lowercased() == p.lowercased() }),
                  mods.insert(m).inserted else { return nil }
        }
        self.init(modifiers: mods, key: key)
    }

    /// Canonical form: modifiers in a fixed order, so `Shift+Ctrl+a` and `Ctrl+Shift+a` are one key.
    public var description: String { (modifiers.sorted().map(\.rawValue) + [key]).joined(separator: "+") }
}

public struct Shortcut: Hashable, Sendable {
    public var key: KeyCombo
    public var action: Action
    public init(key: KeyCombo, action: Action) { self.key = key; self.action = action }
}
