internal import CInput

/// xkbcommon's keysym table: which key names a layout's shortcuts may use.
public enum Keysyms {
    /// Whether `name` is a keysym name xkbcommon knows (exact case, as in "Page_Down" or "a").
    @Sendable public static func isKnown(_ name: String) -> Bool {
        xkb_keysym_from_name(name, XKB_KEYSYM_NO_FLAGS) != 0
    }
}
