import Foundation
import Testing
import TesseraCore
@testable import TesseraLayout

/// Issue 12, finding 2: layout values near the edges of Int and Double trapped in `Rect.maxX`,
/// `area` and `WallSeams.pieces` (validate, plan and a running wall's hot reload all died). Every
/// number now has a bound (`LayoutLimits`), refused with its JSON path before any arithmetic.
@Suite struct HostileValueTests {
    static let bezel = #""physical": {"width": 1209, "height": 680}, "bezel": {"left": 3.5, "right": 3.5}"#
    static func twoPanels(_ a: String = bezel, _ b: String = bezel) -> String {
        #"{"id": "a", "mode": "1920x1080@60", "position": {"x": 0, "y": 0}, "# + a + #"}, {"id": "b", "mode": "1920x1080@60", "position": {"x": 1920, "y": 0}, "# + b + "}"
    }
    static let spanning = #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 0, "y": 0, "width": 3840, "height": 1080}, "content": {"type": "grid"}}]}"#

    @Test(arguments: [
        ("position Int.max", layoutJSON(outputs: #"{"id": "a", "mode": "1920x1080@60", "position": {"x": 9223372036854775807, "y": 0}}"#),
         "wall.outputs[0].position.x: expected an integer from 0 to 1000000, got 9223372036854775807"),
        ("zone width Int.max", layoutJSON(presets: #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 5, "y": 0, "width": 9223372036854775807, "height": 1080}, "content": {"type": "grid"}}]}"#),
         "presets[0].zones[0].rect.width: expected an integer from 1 to 1000000, got 9223372036854775807"),
        ("zone x beyond Int", layoutJSON(presets: #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 99999999999999999999, "y": 0, "width": 10, "height": 10}, "content": {"type": "grid"}}]}"#),
         "presets[0].zones[0].rect.x: expected an integer from 0 to 1000000, got 99999999999999999999"),
        ("bezel 1e308 mm", layoutJSON(outputs: twoPanels(#""physical": {"width": 1209, "height": 680}, "bezel": {"right": 1e308}"#), presets: spanning),
         "wall.outputs[0].bezel.right: expected a number from 0 to 1000 mm, got 1e308"),
        ("physical size 1e-300 mm", layoutJSON(outputs: twoPanels(#""physical": {"width": 1e-300, "height": 680}, "bezel": {"right": 5}"#), presets: spanning),
         "wall.outputs[0].physical.width: expected a number from 10 to 100000 mm, got 1e-300"),
        ("mode 99999 wide", layoutJSON(outputs: #"{"id": "a", "mode": "99999x1080@60", "position": {"x": 0, "y": 0}}"#),
         #"wall.outputs[0].mode: expected a mode WIDTHxHEIGHT or WIDTHxHEIGHT@REFRESH such as "3840x2160@60", got "99999x1080@60""#),
        ("maxTiles huge", layoutJSON(presets: #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 0, "y": 0, "width": 1920, "height": 1080}, "content": {"type": "grid", "maxTiles": 1e20}}]}"#),
         "presets[0].zones[0].content.maxTiles: expected an integer from 1 to 10000, got 1e20"),
    ])
    func outOfBoundsValuesAreErrorsWithTheirPath(_ name: String, _ json: String, _ expected: String) {
        let found = problems(json)
        #expect(found.contains { $0.hasSuffix(expected) }, "\(name): \(found)")
    }

    /// The largest values the limits allow still decode, plan and build scenes without trapping.
    @Test func valuesAtTheLimitsBuildScenes() throws {
        let c = LayoutLimits.coordinate.upperBound, l = LayoutLimits.length.upperBound
        let json = layoutJSON(
            outputs: #"{"id": "a", "mode": "16384x16384@1000", "position": {"x": \#(c), "y": \#(c)}, "physical": {"width": 10, "height": 10}, "bezel": {"left": 1000, "right": 1000, "top": 1000, "bottom": 1000}}, {"id": "b", "mode": "16384x16384", "position": {"x": \#(c + 16384), "y": \#(c)}, "physical": {"width": 100000, "height": 100000}, "bezel": {"left": 1000}}"#,
            presets: #"{"name": "main", "zones": [{"id": "g", "rect": {"x": \#(c), "y": \#(c), "width": \#(l), "height": \#(l)}, "content": {"type": "grid", "maxTiles": 10000, "minTileHeight": 1}}]}"#)
        // The zone runs off the wall (an error), so check the parts that must not trap directly too.
        _ = problems(json)
        let layout = try decode(layoutJSON(
            outputs: #"{"id": "a", "mode": "16384x16384@1000", "position": {"x": 0, "y": 0}, "physical": {"width": 10, "height": 10}, "bezel": {"right": 1000}}, {"id": "b", "mode": "16384x16384", "position": {"x": 16384, "y": 0}, "physical": {"width": 100000, "height": 100000}, "bezel": {"left": 1000}}"#,
            presets: #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 0, "y": 0, "width": 32768, "height": 16384}, "content": {"type": "grid", "maxTiles": 10000}}]}"#))
        let scene = SceneBuilder(layout: layout).build(room: Room.synthetic(count: 250), state: ViewState(preset: "main", page: 0))
        #expect(scene.outputs.count == 2)
    }

    @Test func aFileOverTheSizeLimitIsRefusedWithoutReadingIt() throws {
        let path = NSTemporaryDirectory() + "tessera-huge-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        // 15 MB of outputs: valid JSON, far over the limit (and over the 64 outputs allowed).
        var text = #"{"version": 1, "wall": {"outputs": ["#
        let one = #"{"id": "a", "mode": "1920x1080", "position": {"x": 0, "y": 0}},"#
        text += String(repeating: one, count: 15_000_000 / one.utf8.count) + one.dropLast() + "]}}"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        guard case .failure(let e) = LayoutLoader.load(path: path) else { Issue.record("a 15 MB layout was accepted"); return }
        #expect(e.diagnostics.map(\.message) == ["the file is over 4 MiB (4194304 bytes), the most a layout may be"])
    }

    @Test func tooManyOutputsIsOneError() {
        let one = #"{"id": "a", "mode": "1920x1080", "position": {"x": 0, "y": 0}}"#
        let found = problems(layoutJSON(outputs: Array(repeating: one, count: 65).joined(separator: ", ")))
        #expect(found.count == 1)
        #expect(found.first?.hasSuffix("wall.outputs: expected at most 64 outputs, got 65") == true, "\(found)")
    }

    @Test func deepNestingIsRefusedWithoutRecursingDeep() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let found = problems(#"{"version": 1, "x": "# + deep + "}")
        #expect(found.first?.contains("nesting deeper than 64 levels") == true, "\(found)")
    }
}

/// The schema and `tessera validate` agree: every file the schema refuses, validate refuses too.
@Suite struct SchemaAgreementTests {
    static let fixtures: [String] = {
        let dir = repoRoot.appendingPathComponent("Tests/TesseraLayoutTests/Fixtures/schema-invalid").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
            .map { dir + "/" + $0 }
    }()

    @Test func thereAreFixtures() { #expect(Self.fixtures.count >= 10) }

    @Test(arguments: fixtures)
    func validateRefusesWhatTheSchemaRefuses(_ path: String) {
        guard case .failure(let e) = LayoutLoader.load(path: path) else {
            Issue.record("\(path) is refused by the schema but accepted by validate"); return
        }
        #expect(!e.diagnostics.isEmpty)
    }
}
