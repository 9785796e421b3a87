import Foundation
import Testing
import TesseraCore
import TesseraOutput
@testable import TesseraRender

/// Issue 13, finding 4: names were drawn character by character in logical order: Arabic without
/// joining, Hebrew backwards, Devanagari without conjuncts, CJK as boxes, and a long name cut
/// mid-glyph ("Particip"). Now HarfBuzz shapes, FriBidi orders, fontconfig finds fonts, and a name
/// that does not fit ends in "…". The fonts come from `make deps` (fonts-dejavu-core,
/// fonts-noto-core, fonts-noto-cjk, fonts-symbola).
@Suite("Text shaping", .serialized)
struct TextShapingTests {
    nonisolated(unsafe) static let fonts = try! FontStack() // used by one test at a time (.serialized)

    @Test func arabicLettersJoin() {
        // م alone is its isolated form; at the start of محمد it takes its initial (joining) form.
        let word = Self.fonts.shaped("محمد", size: 32)
        let alone = Self.fonts.shaped("م", size: 32)
        #expect(word.count == 4 && alone.count == 1)
        let first = word.first { $0.cluster == 0 }
        #expect(first != nil && first?.glyph != alone.first?.glyph, "initial form, not isolated: \(word)")
        #expect(word.allSatisfy { $0.glyph != 0 }, "every letter has a glyph")
    }

    @Test func hebrewRunsRightToLeftAndLatinStaysLeftToRight() {
        // Logical order: D a n a ␠ ד נ ה. A Latin paragraph: "Dana" at the left, then the Hebrew
        // word with its first letter (ד, scalar 5) at its right end.
        let glyphs = Self.fonts.shaped("Dana דנה", size: 32)
        let byX = glyphs.sorted { $0.x < $1.x }
        #expect(byX.map(\.cluster) == [0, 1, 2, 3, 4, 7, 6, 5], "\(glyphs.map { ($0.cluster, $0.x) })")
        // A Hebrew paragraph keeps its letters right to left too.
        let shalom = Self.fonts.shaped("שלום", size: 32).sorted { $0.x < $1.x }
        #expect(shalom.map(\.cluster) == [3, 2, 1, 0])
    }

    @Test func devanagariFormsConjuncts() {
        // न म स ् त े: the virama joins स and त into a conjunct, so fewer glyphs than characters.
        let text = "नमस्ते"
        let glyphs = Self.fonts.shaped(text, size: 32)
        #expect(glyphs.count < text.unicodeScalars.count, "\(glyphs.count) glyphs for \(text.unicodeScalars.count) characters")
        #expect(glyphs.allSatisfy { $0.glyph != 0 && $0.face.contains("Devanagari") }, "\(glyphs)")
    }

    @Test("CJK and emoji names find a font", arguments: ["王小明", "佐藤 花子", "김민준", "Ana 😀"])
    func everyScriptHasAFont(name: String) {
        #expect(Self.fonts.covers(name), "\(name): fonts \(Self.fonts.paths)")
        let glyphs = Self.fonts.shaped(name, size: 32)
        #expect(glyphs.allSatisfy { $0.glyph != 0 }, "\(name): missing glyphs in \(glyphs)")
    }

    @Test func aNameTooWideEndsInAnEllipsis() {
        // The case: 36 px labels on 178 px tiles showed "Particip".
        let name = "Participant with a long name"
        let room = 150
        let fitted = Self.fonts.fitted(name, size: 36, maxWidth: room)
        #expect(fitted.hasSuffix(FontStack.ellipsis) && fitted.count < name.count, "\(fitted)")
        #expect(name.hasPrefix(String(fitted.dropLast())), "a prefix of the name: \(fitted)")
        #expect(Self.fonts.width(fitted, size: 36) <= room)
        #expect(Self.fonts.width(String(name.prefix(fitted.count)) + FontStack.ellipsis, size: 36) > room, "the longest prefix that fits")
        let image = Self.fonts.render(name, size: 36, maxWidth: room)
        #expect(image.width <= room + 2 && image.width > room / 2, "\(image.width)")
        // A name that fits is left alone; an RTL name is cut at its logical end (its left side).
        #expect(Self.fonts.fitted("Ana", size: 36, maxWidth: room) == "Ana")
        let hebrew = Self.fonts.fitted("שלום עליכם חברים יקרים", size: 36, maxWidth: room)
        #expect(hebrew.hasPrefix("שלום") && hebrew.hasSuffix(FontStack.ellipsis), "\(hebrew)")
        let cut = Self.fonts.shaped(hebrew, size: 36).sorted { $0.x < $1.x }
        #expect(cut.first?.cluster == hebrew.unicodeScalars.count - 1, "the ellipsis is at the left of an RTL name")
    }

    /// A sheet of names in six scripts, labels as the wall draws them (one fits, one is cut), against
    /// a golden checked by eye: Latin, Arabic joined and right to left, Hebrew, Devanagari with its
    /// conjunct, Chinese, an emoji; the long one ends in "…".
    @Test func namesInSixScriptsMatchTheirGolden() throws {
        let names = ["Łukasz Żółć", "محمد عبد الله", "דנה כהן", "नमस्ते प्रिया", "王小明", "Ana 😀", "Participant with a long name"]
        let tileSize = Size(width: 220, height: 60)
        let tiles = names.enumerated().map { i, name in
            Tile(participant: nil, zone: "z", rect: Rect(x: 0, y: i * tileSize.height, width: tileSize.width, height: tileSize.height), fit: .cover,
                 background: Color(red: 30, green: 40, blue: 60), label: Label(text: name, position: .bottomLeft, size: 24))
        }
        let scene = OutputScene(id: "names", size: Size(width: tileSize.width, height: tileSize.height * names.count), rotation: .none,
                                background: Color(red: 0, green: 0, blue: 0), tiles: tiles)
        let renderer = try CPURenderer(fonts: Self.fonts)
        let target = MemoryBuffer(size: scene.size)
        _ = try renderer.draw(scene, sources: FrameSourceTable(), into: target)
        try Golden.check(target, "cpu-names", tolerance: 8, outliers: 0.01)
    }
}

extension TextShapingTests {
    @Test func arabicNameWordsRunRightToLeft() {
        // محمد عبد الله: the first word (clusters 0–3) is the rightmost, the last (الله) the leftmost.
        let glyphs = Self.fonts.shaped("محمد عبد الله", size: 24)
        let first = glyphs.filter { $0.cluster <= 3 }.map(\.x)
        let last = glyphs.filter { $0.cluster >= 9 }.map(\.x)
        #expect(first.min()! > last.max()!, "\(glyphs.map { ($0.cluster, $0.x) })")
    }
}
