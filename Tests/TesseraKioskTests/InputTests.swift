import TesseraCore
import TesseraInput
import TesseraLayout
@testable import TesseraKiosk
import Testing

@Suite struct TerminalKeyTests {
    @Test(arguments: [
        ("1", [KeyPress(keysym: "1")]),
        ("s", [KeyPress(keysym: "s")]),
        ("S", [KeyPress(keysym: "S", shift: true)]),
        ("\u{1b}[6~", [KeyPress(keysym: "Page_Down")]),
        ("\u{1b}[5~", [KeyPress(keysym: "Page_Up")]),
        ("\u{1b}[C\u{1b}[D", [KeyPress(keysym: "Right"), KeyPress(keysym: "Left")]),
        ("\u{1b}[1;2C", [KeyPress(keysym: "Right", shift: true)]),
        ("\u{1b}[1;5D", [KeyPress(keysym: "Left", ctrl: true)]),
        ("\u{1b}OP", [KeyPress(keysym: "F1")]),
        ("\u{0c}", [KeyPress(keysym: "l", ctrl: true)]),
        ("\u{1b}x", [KeyPress(keysym: "x", alt: true)]),
    ])
    func sequences(input: String, expected: [KeyPress]) {
        var bytes = Array(input.utf8)
        #expect(TerminalKeyboard.parse(&bytes, flush: true) == expected)
        #expect(bytes.isEmpty)
    }

    @Test func lonelyEscapeWaitsForMoreUnlessFlushed() {
        var bytes: [UInt8] = [0x1b]
        #expect(TerminalKeyboard.parse(&bytes, flush: false).isEmpty)
        #expect(bytes == [0x1b])
        #expect(TerminalKeyboard.parse(&bytes, flush: true) == [KeyPress(keysym: "Escape")])
        var partial = Array("\u{1b}[6".utf8)
        #expect(TerminalKeyboard.parse(&partial, flush: false).isEmpty)
        partial += Array("~".utf8)
        #expect(TerminalKeyboard.parse(&partial, flush: false) == [KeyPress(keysym: "Page_Down")])
    }
}

@Suite struct ShortcutMapTests {
    let map = ShortcutMap([
        Shortcut(key: KeyCombo("1")!, action: .selectPreset("lecture")),
        Shortcut(key: KeyCombo("s")!, action: .spotlightNext),
        Shortcut(key: KeyCombo("Shift+s")!, action: .spotlightPrevious),
        Shortcut(key: KeyCombo("Page_Down")!, action: .pageNext),
        Shortcut(key: KeyCombo("Ctrl+Right")!, action: .presetNext),
    ])

    @Test(arguments: [
        (KeyCombo(key: "1"), Action?.some(.selectPreset("lecture"))),
        (KeyCombo(key: "s"), .spotlightNext),
        // xkbcommon reports Shift+s as the keysym "S" with Shift held; the terminal as "S".
        (KeyCombo(modifiers: [.shift], key: "S"), .spotlightPrevious),
        (KeyCombo(key: "S"), .spotlightPrevious),
        (KeyCombo(key: "Next"), .pageNext),
        (KeyCombo(modifiers: [.ctrl], key: "Right"), .presetNext),
        (KeyCombo(key: "Right"), nil),
        (KeyCombo(key: "2"), nil),
    ])
    func lookup(key: KeyCombo, expected: Action?) {
        #expect(map.action(for: key) == expected)
    }
}
