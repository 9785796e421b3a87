import TesseraInput
import TesseraLayout

/// Loads layout files the way the kiosk does: the format's checks plus shortcut key names checked
/// against xkbcommon's keysym table. `tessera validate`, `plan` and `run` all come through here, so
/// an installer's check and the wall agree.
public enum LayoutFiles {
    public static let options = LayoutLoader.Options(isKnownKeyName: Keysyms.isKnown)

    public static func load(_ path: String) -> Result<Layout, LayoutError> {
        LayoutLoader.load(path: path, options: options)
    }

    /// The layout with its warnings, or its errors (what `tessera validate` prints).
    public static func read(_ path: String) -> LayoutReport {
        LayoutLoader.read(path: path, options: options)
    }
}
