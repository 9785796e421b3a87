import TesseraLayout

/// The layout's shortcuts, looked up by the key a keyboard reports.
///
/// Keyboards report the keysym the modifiers produce (Shift+s arrives as "S" with Shift held),
/// while layouts name the unshifted key ("Shift+s"); both spellings find the same shortcut.
public struct ShortcutMap: Sendable {
    private var table: [KeyCombo: Action] = [:]

    public init(_ shortcuts: [Shortcut]) {
        for s in shortcuts { table[Self.normalized(s.key)] = s.action }
    }

    public func action(for key: KeyCombo) -> Action? {
        table[Self.normalized(key)]
    }

    /// Letters in lower case with Shift when they were upper case (or Shift was held).
    static func normalized(_ key: KeyCombo) -> KeyCombo {
        var k = key
        if k.key.count == 1, let c = k.key.first, c.isLetter {
            if c.isUppercase { k.modifiers.insert(.shift) }
            k.key = k.key.lowercased()
        }
        // Aliases xkbcommon uses for the same keys.
        switch k.key {
        case "Prior": k.key = "Page_Up"
        case "Next": k.key = "Page_Down"
        default: break
        }
        return k
    }
}
