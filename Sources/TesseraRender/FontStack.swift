import Foundation
internal import CText
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

/// One glyph of a shaped line, in visual order (left to right): which face, which glyph, which
/// character of the text it came from, and where its origin is (pixels from the line's start).
public struct ShapedGlyph: Sendable, Equatable {
    public var face: String
    public var glyph: UInt32
    /// Index of the first Unicode scalar of the cluster this glyph belongs to.
    public var cluster: Int
    public var x: Int
}

/// Names as a viewer expects to read them, in any script: HarfBuzz shapes (Arabic joining,
/// Devanagari conjuncts, marks, kerning), FriBidi orders mixed-direction text (a Hebrew name with
/// a Latin suffix), and the font for each character comes from a fallback chain: `TESSERA_FONTS`,
/// then `searchPaths` (DejaVu Sans first, so Latin looks the same on every machine), then every
/// font fontconfig knows, best first for "sans-serif", opened when first needed. A name too wide
/// for its place ends in an ellipsis at a character boundary (`fitted`). Not thread-safe: one
/// render thread.
public final class FontStack {
    /// Fonts opened at start, in order, after any in `TESSERA_FONTS` (colon-separated paths).
    public static let searchPaths = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSansHebrew-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf",
    ]
    /// The ellipsis a cut name ends with.
    public static let ellipsis = "\u{2026}"

    private final class Face {
        let path: String
        let ft: FT_Face
        let hb: OpaquePointer
        init(path: String, ft: FT_Face, hb: OpaquePointer) { self.path = path; self.ft = ft; self.hb = hb }
        func has(_ scalar: Unicode.Scalar) -> Bool { FT_Get_Char_Index(ft, FT_ULong(scalar.value)) != 0 }
    }

    /// A font fontconfig offered, not opened until a character needs it.
    private struct Candidate {
        var path: String
        var index: Int
        var charset: OpaquePointer
    }

    private var library: FT_Library?
    private var faces: [Face] = []
    private var candidates: [Candidate] = []
    private var faceForScalar: [UInt32: Int] = [:]
    private var size = 0
    /// The fonts opened so far, in fallback order.
    public var paths: [String] { faces.map(\.path) }

    /// `paths`: only these fonts, in this order (no `TESSERA_FONTS`, no fontconfig); for tests.
    public init(paths: [String]? = nil) throws(FontError) {
        let env = ProcessInfo.processInfo.environment["TESSERA_FONTS"].map { $0.split(separator: ":").map(String.init) } ?? []
        let eager = paths ?? (env + Self.searchPaths)
        var lib: FT_Library?
        let err = FT_Init_FreeType(&lib)
        guard err == 0, let lib else { throw .freetype(operation: "FT_Init_FreeType", code: err, path: nil) }
        library = lib
        for path in eager where FileManager.default.fileExists(atPath: path) {
            if let face = open(path, index: 0) { faces.append(face) }
        }
        if paths == nil { candidates = Self.fontconfigCandidates(excluding: Set(faces.map(\.path))) }
        if faces.isEmpty, let first = candidates.first, let face = open(first.path, index: first.index) {
            faces.append(face)
        }
        guard !faces.isEmpty else {
            for c in candidates { FcCharSetDestroy(c.charset) }
            FT_Done_FreeType(lib)
            library = nil
            throw .noFonts(searched: eager + ["fontconfig's sans-serif list"])
        }
    }

    deinit {
        for face in faces { hb_font_destroy(face.hb); FT_Done_Face(face.ft) }
        for c in candidates { FcCharSetDestroy(c.charset) }
        if let library { FT_Done_FreeType(library) }
    }

    private func open(_ path: String, index: Int) -> Face? {
        guard let library else { return nil }
        var ft: FT_Face?
        guard FT_New_Face(library, path, FT_Long(index), &ft) == 0, let ft else { return nil }
        // HarfBuzz takes its own reference on the face: Face releases both (deinit).
        guard let hb = hb_ft_font_create_referenced(ft) else { FT_Done_Face(ft); return nil }
        if size > 0 { setSize(ft, hb, size) }
        return Face(path: path, ft: ft, hb: hb)
    }

    /// fontconfig's fonts for "sans-serif", best first, trimmed to those that add coverage.
    private static func fontconfigCandidates(excluding opened: Set<String>) -> [Candidate] {
        guard FcInit() != 0, let pattern = FcNameParse("sans-serif") else { return [] }
        defer { FcPatternDestroy(pattern) }
        FcConfigSubstitute(nil, pattern, FcMatchPattern)
        FcDefaultSubstitute(pattern)
        var result = FcResultNoMatch
        guard let set = FcFontSort(nil, pattern, 1, nil, &result) else { return [] }
        defer { FcFontSetDestroy(set) }
        var out: [Candidate] = []
        for i in 0..<Int(set.pointee.nfont) {
            guard let font = set.pointee.fonts[i] else { continue }
            var file: UnsafeMutablePointer<FcChar8>?
            var index: Int32 = 0
            var charset: OpaquePointer?
            guard FcPatternGetString(font, tessera_fc_file(), 0, &file) == FcResultMatch, let file,
                  FcPatternGetCharSet(font, tessera_fc_charset(), 0, &charset) == FcResultMatch, let charset else { continue }
            _ = FcPatternGetInteger(font, tessera_fc_index(), 0, &index)
            let path = String(cString: file)
            guard !opened.contains(path) || index != 0, let copy = FcCharSetCopy(charset) else { continue }
            out.append(Candidate(path: path, index: Int(index), charset: copy))
        }
        return out
    }

    private func setSize(_ ft: FT_Face, _ hb: OpaquePointer, _ px: Int) {
        FT_Set_Pixel_Sizes(ft, 0, FT_UInt(px))
        hb_ft_font_changed(hb)
    }

    private func use(size px: Int) {
        guard px != size else { return }
        size = px
        for face in faces { setSize(face.ft, face.hb, px) }
    }

    /// The face that draws `scalar`: the first opened face that has it, else the first fontconfig
    /// font whose character set has it (opened now), else the first face (its missing-glyph box).
    private func faceIndex(for scalar: Unicode.Scalar) -> Int {
        if let i = faceForScalar[scalar.value] { return i }
        var found = faces.firstIndex { $0.has(scalar) }
        if found == nil, let c = candidates.firstIndex(where: { FcCharSetHasChar($0.charset, FcChar32(scalar.value)) != 0 }) {
            let candidate = candidates.remove(at: c)
            FcCharSetDestroy(candidate.charset)
            if let face = open(candidate.path, index: candidate.index), face.has(scalar) {
                faces.append(face)
                found = faces.count - 1
            }
        }
        let i = found ?? 0
        faceForScalar[scalar.value] = i
        return i
    }

    /// Whether some font has a glyph for every character of `text` (whitespace aside).
    public func covers(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { s in s.properties.isWhitespace || faces[faceIndex(for: s)].has(s) }
    }

    // MARK: Shaping

    private struct Run {
        var start: Int      // scalar index
        var end: Int
        var level: Int8
        var face: Int
    }

    /// Shapes one line: bidi levels, runs of one level and one face, each shaped by HarfBuzz with
    /// the whole line as context, the runs then put in visual order (Unicode's rule L2).
    private func shape(_ text: String, size px: Int) -> (glyphs: [(face: Int, glyph: UInt32, cluster: Int, x: Int, dx: Int, dy: Int)], width: Int) {
        use(size: max(1, px))
        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return ([], 0) }
        var codes = scalars.map { FriBidiChar($0.value) }
        let n = FriBidiStrIndex(codes.count)
        var types = [FriBidiCharType](repeating: FriBidiCharType(0), count: codes.count)
        var brackets = [FriBidiBracketType](repeating: 0, count: codes.count)
        var levels = [FriBidiLevel](repeating: 0, count: codes.count)
        var base = tessera_fribidi_par_on()
        fribidi_get_bidi_types(&codes, n, &types)
        fribidi_get_bracket_types(&codes, n, &types, &brackets)
        if fribidi_get_par_embedding_levels_ex(&types, &brackets, n, &base, &levels) == 0 {
            levels = [FriBidiLevel](repeating: 0, count: codes.count)
        }

        // Faces per grapheme cluster (a combining mark stays with its base's face when it can).
        var faceOf = [Int](repeating: 0, count: scalars.count)
        var offset = 0
        for character in text {
            let cluster = Array(character.unicodeScalars)
            var face = faceIndex(for: cluster[0])
            if !cluster.dropFirst().allSatisfy({ faces[face].has($0) || $0.properties.isWhitespace }),
               let better = faces.indices.first(where: { f in cluster.allSatisfy { faces[f].has($0) } }) {
                face = better
            }
            for k in 0..<cluster.count { faceOf[offset + k] = face }
            offset += cluster.count
        }

        var runs: [Run] = []
        for i in scalars.indices {
            if let last = runs.last, last.level == levels[i], last.face == faceOf[i] {
                runs[runs.count - 1].end = i + 1
            } else {
                runs.append(Run(start: i, end: i + 1, level: levels[i], face: faceOf[i]))
            }
        }
        // L2: from the highest level down to the lowest odd one, reverse every sequence of runs at
        // that level or above.
        if let highest = runs.map(\.level).max(), let lowestOdd = runs.map(\.level).filter({ $0 % 2 == 1 }).min() {
            var level = highest
            while level >= lowestOdd {
                var i = 0
                while i < runs.count {
                    guard runs[i].level >= level else { i += 1; continue }
                    var j = i
                    while j < runs.count && runs[j].level >= level { j += 1 }
                    runs[i..<j].reverse()
                    i = j
                }
                level -= 1
            }
        }

        var glyphs: [(face: Int, glyph: UInt32, cluster: Int, x: Int, dx: Int, dy: Int)] = []
        var pen = 0 // 26.6
        var utf32 = scalars.map { UInt32($0.value) }
        for run in runs {
            guard let buffer = hb_buffer_create() else { continue }
            defer { hb_buffer_destroy(buffer) }
            hb_buffer_add_utf32(buffer, &utf32, Int32(utf32.count), UInt32(run.start), Int32(run.end - run.start))
            hb_buffer_set_direction(buffer, run.level % 2 == 1 ? HB_DIRECTION_RTL : HB_DIRECTION_LTR)
            hb_buffer_guess_segment_properties(buffer)
            hb_shape(faces[run.face].hb, buffer, nil, 0)
            var count: UInt32 = 0
            guard let infos = hb_buffer_get_glyph_infos(buffer, &count),
                  let positions = hb_buffer_get_glyph_positions(buffer, &count) else { continue }
            for g in 0..<Int(count) {
                let p = positions[g]
                glyphs.append((run.face, infos[g].codepoint, Int(infos[g].cluster), pen, Int(p.x_offset), Int(p.y_offset)))
                pen += Int(p.x_advance)
            }
        }
        return (glyphs, (pen + 63) >> 6)
    }

    /// The glyphs of `text` at `size` pixels, in visual order (what a test can check: joined forms,
    /// conjuncts, direction, which font).
    public func shaped(_ text: String, size: Int) -> [ShapedGlyph] {
        shape(text, size: size).glyphs.map { ShapedGlyph(face: faces[$0.face].path, glyph: $0.glyph, cluster: $0.cluster, x: $0.x >> 6) }
    }

    /// The advance width of `text` shaped at `size` pixels.
    public func width(_ text: String, size: Int) -> Int { shape(text, size: size).width }

    /// `text` as it fits in `maxWidth` pixels at `size`: itself when it fits, else the longest
    /// prefix of whole characters (trailing spaces dropped) followed by "…", else just "…".
    public func fitted(_ text: String, size: Int, maxWidth: Int) -> String {
        guard width(text, size: size) > maxWidth else { return text }
        let characters = Array(text)
        var low = 0, high = characters.count - 1 // the longest prefix that fits is in low...high
        func candidate(_ k: Int) -> String {
            var prefix = String(characters[0..<k])
            while prefix.last?.isWhitespace == true { prefix.removeLast() }
            return prefix + Self.ellipsis
        }
        while low < high {
            let mid = (low + high + 1) / 2
            if width(candidate(mid), size: size) <= maxWidth { low = mid } else { high = mid - 1 }
        }
        return candidate(low)
    }

    /// Rasterises one line at `size` pixels (the em size), shaped, in visual order; with
    /// `maxWidth`, cut to fit with an ellipsis. Characters no font has are drawn as the first
    /// face's missing-glyph box.
    public func render(_ text: String, size: Int, maxWidth: Int? = nil) -> TextImage {
        let line = maxWidth.map { fitted(text, size: size, maxWidth: max(0, $0)) } ?? text
        let (glyphs, advance) = shape(line, size: size)
        let primary = faces[0].ft
        let ascender = Int(primary.pointee.size.pointee.metrics.ascender >> 6)
        let descender = Int(-(primary.pointee.size.pointee.metrics.descender >> 6))

        struct Placed { var x: Int; var top: Int; var w: Int; var h: Int; var pitch: Int; var bits: [UInt8] }
        var placed: [Placed] = []
        for g in glyphs {
            let face = faces[g.face].ft
            guard FT_Load_Glyph(face, FT_UInt(g.glyph), Int32(FT_LOAD_RENDER)) == 0, let slot = face.pointee.glyph else { continue }
            let bm = slot.pointee.bitmap
            let w = Int(bm.width), h = Int(bm.rows), pitch = Int(bm.pitch)
            guard w > 0, h > 0, pitch > 0, let buffer = bm.buffer, bm.pixel_mode == UInt8(FT_PIXEL_MODE_GRAY.rawValue) else { continue }
            let bits = Array(UnsafeBufferPointer(start: buffer, count: pitch * h))
            let x = (g.x + g.dx) >> 6 + Int(slot.pointee.bitmap_left)
            let top = -(g.dy >> 6) - Int(slot.pointee.bitmap_top) // from the baseline, up is negative
            placed.append(Placed(x: x, top: top, w: w, h: h, pitch: pitch, bits: bits))
        }
        // The primary face's line box, grown when a script's glyphs reach beyond it.
        let above = max(ascender, placed.map { -$0.top }.max() ?? 0)
        let below = max(descender, placed.map { $0.top + $0.h }.max() ?? 0)
        let height = max(1, above + below)
        let minX = min(0, placed.map(\.x).min() ?? 0)
        let width = max(advance, placed.map { $0.x + $0.w }.max() ?? 0) - minX
        guard width > 0, !line.isEmpty else { return .empty }
        var coverage = [UInt8](repeating: 0, count: width * height)
        for g in placed {
            for row in 0..<g.h {
                let y = above + g.top + row
                guard y >= 0, y < height else { continue }
                for col in 0..<g.w {
                    let x = g.x - minX + col
                    guard x >= 0, x < width else { continue }
                    let v = g.bits[row * g.pitch + col]
                    let i = y * width + x
                    if v > coverage[i] { coverage[i] = v }
                }
            }
        }
        return TextImage(id: 0, width: width, height: height, coverage: coverage)
    }
}

/// Rasterised text per (text, size, width limit), so 250 labels cost shaping once each, not once
/// a frame.
public final class TextCache {
    private struct Key: Hashable { var text: String; var size: Int; var maxWidth: Int? }
    private var images: [Key: TextImage] = [:]
    private let fonts: FontStack
    private var nextID = 0
    /// Entries kept before the cache starts over (names change rarely; pages of 250 labels fit).
    public var limit = 4096

    public init(fonts: FontStack) { self.fonts = fonts }

    /// `text` at `size` pixels; with `maxWidth`, ending in "…" when it would be wider.
    public func image(_ text: String, size: Int, maxWidth: Int? = nil) -> TextImage {
        let key = Key(text: text, size: size, maxWidth: maxWidth)
        if let hit = images[key] { return hit }
        if images.count >= limit { images.removeAll(keepingCapacity: true) }
        var image = fonts.render(text, size: size, maxWidth: maxWidth)
        if image.width > 0 { nextID += 1; image.id = nextID }
        images[key] = image
        return image
    }

    public var count: Int { images.count }
}
