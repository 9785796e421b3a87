/// The numeric bounds of the layout format, in one place: every number a layout file holds is
/// read through `NodeReader.int(_:)` or `number(_:)` with one of these, and refused with its JSON
/// path before any arithmetic sees it. Within them, all geometry (`Rect.maxX`, `area`, bezel
/// mullions, tile counts) fits an `Int` many times over, so later code can use plain arithmetic.
/// docs/layouts.md ("Limits") and Layouts/layout.schema.json (minimum/maximum/maxItems) say the same.
public enum LayoutLimits {
    /// Positions on the wall canvas (outputs' `position`, zones' `rect` x and y), in pixels.
    public static let coordinate: ClosedRange<Int> = 0...1_000_000
    /// Sizes of zones (`rect` width and height), in pixels.
    public static let length: ClosedRange<Int> = 1...1_000_000
    /// A display mode's width and height, in pixels (16K is beyond any display sold).
    public static let modeSide: ClosedRange<Int> = 1...16_384
    /// A display's physical width and height (`physical`), in millimetres: 1 cm to 100 m.
    public static let physicalMillimetres: ClosedRange<Double> = 10...100_000
    /// One bezel (`bezel.left` …), in millimetres.
    public static let bezelMillimetres: ClosedRange<Double> = 0...1_000
    /// `style.gap`, in pixels.
    public static let gap: ClosedRange<Int> = 0...1_000
    /// Border and highlight widths, in pixels.
    public static let lineWidth: ClosedRange<Int> = 0...200
    /// Label text size, in pixels.
    public static let labelSize: ClosedRange<Int> = 8...200
    /// A grid's `maxTiles`.
    public static let maxTiles: ClosedRange<Int> = 1...10_000
    /// A grid's `minTileHeight`, in pixels.
    public static let minTileHeight: ClosedRange<Int> = 1...16_384
    /// The format `version`.
    public static let version: ClosedRange<Int> = 1...1_000
    /// Counts of list items.
    public static let outputs = 64
    public static let presets = 100
    public static let zonesPerPreset = 256
    public static let shortcuts = 256
    /// The file itself: a 2x8 wall with 100 presets is about 200 KB.
    public static let fileBytes = 4 << 20
}
