import Foundation
internal import CFreeType
import TesseraCore

/// A line of text rasterised to 8-bit coverage (0 = transparent, 255 = ink), one line high.
public struct TextImage: Sendable, Hashable {
    /// Unique per rasterisation within a process (0 for empty), so GPU renderers can cache textures.
    public var id: Int = 0
    public var width: Int
    public var height: Int
    public var coverage: [UInt8]
    static let empty = TextImage(id: 0, width: 0, height: 0, coverage: [])
}

public enum FontError: Error, CustomStringConvertible {
    case freetype(operation: String, code: Int32, path: String?)
    case noFonts(searched: [String])
    public var description: String {
        switch self {
        case .freetype(let op, let code, let path):
            "\(op) failed (FreeType error \(code))" + (path.map { " for \($0)" } ?? "")
        case .noFonts(let searched):
            "no usable font: looked for \(searched.joined(separator: ", ")); install fonts-dejavu-core or set TESSERA_FONTS"
        }
    }
}

/// Faces tried in order for each character (the first that has a glyph draws it), so names in any
/// script render as long as some installed font covers it. Not thread-safe: one render thread.
public final class FontStack {
    /// Fonts looked for, in order, after any in `TESSERA_FONTS` (colon-separated paths).
    public static let searchPaths = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf",
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        "/usr/share/fonts/truetype/unifont/unifont.ttf",
    ]

    private var library: FT_Library?
    private var faces: [FT_Face] = []
    public let paths: [String]

    public init(paths: [String]? = nil) throws(FontError) {
        let env = ProcessInfo.processInfo.environment["TESSERA_FONTS"].map { $0.split(separator: ":").map(String.init) } ?? []
        let candidates = paths ?? (env + Self.searchPaths)
        var lib: FT_Library?
        let err = FT_Init_FreeType(&lib)
        guard err == 0, let lib else { throw .freetype(operation: "FT_Init_FreeType", code: err, path: nil) }
        library = lib
        var used: [String] = []
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            var face: FT_Face?
            if FT_New_Face(lib, path, 0, &face) == 0, let face {
                faces.append(face); used.append(path)
            }
        }
        self.paths = used
        guard !faces.isEmpty else {
            FT_Done_FreeType(lib)
            library = nil
            throw .noFonts(searched: candidates)
        }
    }

    deinit {
        for face in faces { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    /// Whether some face has a glyph for every character of `text`.
    public func covers(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { s in s.properties.isWhitespace || faces.contains { FT_Get_Char_Index($0, FT_ULong(s.value)) != 0 } }
    }

    /// Rasterises one line at `size` pixels (the em size). Characters no face has are drawn with the
    /// first face's missing-glyph box. Advance-based layout without shaping: right-to-left scripts
    /// and combining marks are drawn in logical order (HarfBuzz would be the next step).
    public func render(_ text: String, size: Int) -> TextImage {
        let px = FT_UInt(max(1, size))
        for face in faces { FT_Set_Pixel_Sizes(face, 0, px) }
        let primary = faces[0]
        let ascender = Int(primary.pointee.size.pointee.metrics.ascender >> 6)
        let descender = Int(-(primary.pointee.size.pointee.metrics.descender >> 6))
        let height = max(1, ascender + descender)

        struct Placed { var x: Int; var top: Int; var w: Int; var h: Int; var pitch: Int; var bits: [UInt8] }
        var placed: [Placed] = []
        var penX = 0
        var minX = 0
        for scalar in text.unicodeScalars {
            let code = FT_ULong(scalar.value)
            let face = faces.first { FT_Get_Char_Index($0, code) != 0 } ?? primary
            let index = FT_Get_Char_Index(face, code)
            guard FT_Load_Glyph(face, index, Int32(FT_LOAD_RENDER)) == 0, let slot = face.pointee.glyph else { continue }
            let bm = slot.pointee.bitmap
            let w = Int(bm.width), h = Int(bm.rows), pitch = Int(bm.pitch)
            var bits: [UInt8] = []
            if w > 0, h > 0, let buffer = bm.buffer, pitch > 0 {
                bits = Array(UnsafeBufferPointer(start: buffer, count: pitch * h))
            }
            let x = penX + Int(slot.pointee.bitmap_left)
            minX = min(minX, x)
            placed.append(Placed(x: x, top: ascender - Int(slot.pointee.bitmap_top), w: w, h: h, pitch: pitch, bits: bits))
            penX += Int(slot.pointee.advance.x >> 6)
        }
        let width = max(penX, placed.map { $0.x + $0.w }.max() ?? 0) - minX
        guard width > 0 else { return .empty }
        var coverage = [UInt8](repeating: 0, count: width * height)
        for g in placed where !g.bits.isEmpty {
            for row in 0..<g.h {
                let y = g.top + row
                guard y >= 0, y < height else { continue }
                for col in 0..<g.w {
                    let x = g.x - minX + col
                    let v = g.bits[row * g.pitch + col]
                    let i = y * width + x
                    if v > coverage[i] { coverage[i] = v }
                }
            }
        }
        return TextImage(id: 0, width: width, height: height, coverage: coverage)
    }
}

/// Rasterised text per (text, size), so 250 labels cost FreeType once each, not once a frame.
public final class TextCache {
    private struct Key: Hashable { var text: String; var size: Int }
    private var images: [Key: TextImage] = [:]
    private let fonts: FontStack
    private var nextID = 0
    /// Entries kept before the cache starts over (names change rarely; pages of 250 labels fit).
    public var limit = 4096

    public init(fonts: FontStack) { self.fonts = fonts }

    public func image(_ text: String, size: Int) -> TextImage {
        let key = Key(text: text, size: size)
        if let hit = images[key] { return hit }
        if images.count >= limit { images.removeAll(keepingCapacity: true) }
        var image = fonts.render(text, size: size)
        if image.width > 0 { nextID += 1; image.id = nextID }
        images[key] = image
        return image
    }

    public var count: Int { images.count }
}
