import TesseraCore
import TesseraLayout

/// A layout file as an installer (or a corrupted disk) could write it: parse, decode, check, then
/// build every preset's scene for a few room sizes and pages, as `plan` and a running wall do.
let layoutHarness = Harness(name: "layout", summary: "layout JSON: parse, decode, checks, plan and scene") { bytes in
    guard case .success(let layout) = LayoutLoader.decode(Array(bytes), file: "fuzz.json") else { return }
    let builder = SceneBuilder(layout: layout)
    for count in [0, 1, 7, 250] {
        let room = Room.synthetic(count: count)
        for preset in layout.presets {
            for page in [0, 1] {
                _ = builder.build(room: room, state: ViewState(preset: preset.name, page: page))
            }
        }
    }
}
