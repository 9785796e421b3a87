import Foundation
import TesseraCore
@testable import TesseraLayout

/// The repository root, for reading the example layouts in Layouts/.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func examplePath(_ name: String) -> String { repoRoot.appendingPathComponent("Layouts/\(name)").path }

let exampleLayouts = ["single-1080p.json", "dual-4k.json", "wall-2x2-4k.json", "lecture-theatre.json"]

func loadExample(_ name: String) throws -> Layout {
    try LayoutLoader.load(path: examplePath(name)).get()
}

/// The problems in `json` as `line:column: path: message` lines, or [] when it is valid.
func problems(_ json: String, options: LayoutLoader.Options = .init()) -> [String] {
    switch LayoutLoader.decode(Array(json.utf8), file: "t.json", options: options) {
    case .success: return []
    case .failure(let e): return e.diagnostics.map(\.description)
    }
}

func decode(_ json: String) throws -> Layout {
    try LayoutLoader.decode(Array(json.utf8), file: "t.json").get()
}

/// A small valid layout, one line per part so that cases can change one part and know the line.
/// Line 1 `{`, line 2 version, line 3 outputs, line 4 presets, line 5 shortcuts, line 6 `}`.
func layoutJSON(
    outputs: String = #"{"id": "a", "mode": "1920x1080@60", "position": {"x": 0, "y": 0}}"#,
    presets: String = #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 0, "y": 0, "width": 1920, "height": 1080}, "content": {"type": "grid"}}]}"#,
    shortcuts: String = "",
    extra: String = ""
) -> String {
    """
    {
    "version": 1,\(extra)
    "wall": {"outputs": [\(outputs)]},
    "presets": [\(presets)],
    "shortcuts": [\(shortcuts)]
    }
    """
}

/// A deterministic generator, so property tests are repeatable.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
