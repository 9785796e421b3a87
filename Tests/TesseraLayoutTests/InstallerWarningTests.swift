import Foundation
import Testing
import TesseraCore
@testable import TesseraLayout

/// What `tessera validate` tells an installer beyond errors (issue 13): warnings for zones nobody
/// can see, every problem of an output or zone even when it has several, and agreement with the
/// schema on keys, borders and connectors. Warning cases are fixtures beside the tests
/// (Fixtures/warnings/, which tools/check_schema.py also checks the schema accepts).
@Suite struct InstallerWarningTests {
    static let fixtures = repoRoot.appendingPathComponent("Tests/TesseraLayoutTests/Fixtures/warnings").path

    @Test(arguments: [
        ("grid-after-unbounded-grid.json", [
            #"32:9: presets[0].zones[1]: warning: grid zone "more" can never show anyone: the earlier grid "everyone" at presets[0].zones[0] has no "maxTiles" or "minTileHeight", so it takes everyone first; give it a "maxTiles", or remove this zone"#,
        ]),
        ("zone-covered-by-later-zone.json", [
            #"22:19: presets[0].zones[0].rect: warning: zone "teacher" is hidden: the later zone "slides" at presets[0].zones[1] covers it wholly (later zones are drawn on top); move or shrink one of them, or list them the other way round"#,
        ]),
        ("none-for-a-bounded-grid-and-a-picture-in-picture.json", []),
    ])
    func warningsAreReportedAndTheLayoutStillLoads(_ file: String, _ expected: [String]) {
        let report = LayoutLoader.read(path: Self.fixtures + "/" + file)
        #expect(report.errors.isEmpty, "\(file) is valid: \(report.errors)")
        #expect(report.layout != nil)
        #expect(report.warnings.map(\.description) == expected)
        #expect(report.warningLines.allSatisfy { $0.hasPrefix(Self.fixtures + "/" + file + ":") })
    }

    @Test func everyWarningFixtureIsThere() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures).filter { $0.hasSuffix(".json") }
        #expect(files.count == 3)
    }

    /// The same rule in a table: which zone lists warn.
    @Test(arguments: [
        ("unbounded grid for everyone, then a teachers' grid", #"{"id": "a", "rect": {"x": 0, "y": 0, "width": 960, "height": 1080}, "content": {"type": "grid"}}, {"id": "b", "rect": {"x": 960, "y": 0, "width": 960, "height": 1080}, "content": {"type": "grid", "roles": ["teacher"]}}"#, 1),
        ("students only first, then guests: both can show someone", #"{"id": "a", "rect": {"x": 0, "y": 0, "width": 960, "height": 1080}, "content": {"type": "grid", "roles": ["student"]}}, {"id": "b", "rect": {"x": 960, "y": 0, "width": 960, "height": 1080}, "content": {"type": "grid", "roles": ["guest"]}}"#, 0),
        ("minTileHeight bounds the first grid", #"{"id": "a", "rect": {"x": 0, "y": 0, "width": 960, "height": 1080}, "content": {"type": "grid", "minTileHeight": 200}}, {"id": "b", "rect": {"x": 960, "y": 0, "width": 960, "height": 1080}, "content": {"type": "grid"}}"#, 0),
        ("picture in picture: the later zone is the smaller", #"{"id": "a", "rect": {"x": 0, "y": 0, "width": 1920, "height": 1080}, "content": {"type": "content"}}, {"id": "b", "rect": {"x": 1440, "y": 810, "width": 480, "height": 270}, "content": {"type": "teacher"}}"#, 0),
        ("two zones on the same rectangle: the first is hidden", #"{"id": "a", "rect": {"x": 0, "y": 0, "width": 1920, "height": 1080}, "content": {"type": "teacher"}}, {"id": "b", "rect": {"x": 0, "y": 0, "width": 1920, "height": 1080}, "content": {"type": "spotlight"}}"#, 1),
    ])
    func zoneWarnings(_ name: String, _ zones: String, _ count: Int) {
        let report = LayoutLoader.read(Array(layoutJSON(presets: #"{"name": "main", "zones": [\#(zones)]}"#).utf8), file: "t.json")
        #expect(report.errors.isEmpty, "\(name)")
        #expect(report.warnings.count == count, "\(name): \(report.warnings)")
    }

    @Test func theExamplesHaveNoWarnings() {
        for name in exampleLayouts {
            let report = LayoutLoader.read(path: examplePath(name))
            #expect(report.warnings.isEmpty, "\(name): \(report.warnings)")
        }
    }
}
