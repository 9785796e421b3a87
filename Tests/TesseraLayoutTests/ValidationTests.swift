import Testing
import TesseraCore
@testable import TesseraLayout

/// Each case: a layout with one kind of mistake, and the exact lines `tessera validate` prints for it
/// (less the file name). Columns point at the offending value or key.
@Suite struct ValidationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var json: String
        var expected: [String]
        var testDescription: String { name }
    }

    static let twoOutputs = #"{"id": "a", "mode": "1920x1080@60", "position": {"x": 0, "y": 0}}, {"id": "b", "mode": "1920x1080@60", "position": {"x": 1920, "y": 0}}"#

    static let cases: [Case] = [
        Case(name: "valid base layout", json: layoutJSON(), expected: []),
        Case(name: "unknown key with a suggestion",
             json: layoutJSON(outputs: #"{"id": "a", "mdoe": "1920x1080@60", "position": {"x": 0, "y": 0}}"#),
             expected: [
                #"3:22: wall.outputs[0]: missing required key "mode" (e.g. "3840x2160@60")"#,
                #"3:34: wall.outputs[0].mdoe: unknown key "mdoe"; did you mean "mode"?"#,
             ]),
        Case(name: "unknown top-level key without a near match",
             json: layoutJSON(extra: #" "colour": "red","#),
             expected: [#"2:15: colour: unknown key "colour"; allowed here: version, name, wall, style, presets, defaultPreset, shortcuts"#]),
        Case(name: "malformed modes, every one reported",
             json: layoutJSON(outputs: #"{"id": "a", "mode": "1920x1080p60", "position": {"x": 0, "y": 0}}, {"id": "b", "mode": "0x1080", "position": {"x": 1920, "y": 0}}, {"id": "c", "mode": "1920x1080@", "position": {"x": 3840, "y": 0}}"#),
             expected: [
                #"3:42: wall.outputs[0].mode: expected a mode WIDTHxHEIGHT or WIDTHxHEIGHT@REFRESH such as "3840x2160@60", got "1920x1080p60""#,
                #"3:109: wall.outputs[1].mode: expected a mode WIDTHxHEIGHT or WIDTHxHEIGHT@REFRESH such as "3840x2160@60", got "0x1080""#,
                #"3:173: wall.outputs[2].mode: expected a mode WIDTHxHEIGHT or WIDTHxHEIGHT@REFRESH such as "3840x2160@60", got "1920x1080@""#,
             ]),
        Case(name: "wrong types",
             json: layoutJSON(outputs: #"{"id": 7, "mode": "1920x1080", "position": {"x": -1, "y": "0"}, "rotation": 45}"#),
             expected: [
                #"3:29: wall.outputs[0].id: expected an id of letters, digits, '-' and '_' (at most 64, starting with a letter or digit), got 7"#,
                #"3:71: wall.outputs[0].position.x: expected an integer from 0 to 1000000, got -1"#,
                #"3:80: wall.outputs[0].position.y: expected an integer from 0 to 1000000, got "0""#,
                #"3:98: wall.outputs[0].rotation: expected a rotation of 0, 90, 180 or 270, got 45"#,
             ]),
        Case(name: "overlapping outputs",
             json: layoutJSON(outputs: #"{"id": "a", "mode": "1920x1080@60", "position": {"x": 0, "y": 0}}, {"id": "b", "mode": "1920x1080@60", "position": {"x": 1000, "y": 0}}"#),
             expected: [#"3:137: wall.outputs[1].position: output "b" at 1920x1080+1000+0 overlaps output "a" at 1920x1080+0+0 by 920x1080 px; outputs that touch are placed edge to edge (bezels are compensated from "bezel", not from gaps)"#]),
        Case(name: "rotated output overlaps by its turned size",
             json: layoutJSON(outputs: #"{"id": "a", "mode": "1920x1080", "position": {"x": 0, "y": 0}, "rotation": 90}, {"id": "b", "mode": "1920x1080", "position": {"x": 1000, "y": 0}}"#),
             expected: [#"3:147: wall.outputs[1].position: output "b" at 1920x1080+1000+0 overlaps output "a" at 1080x1920+0+0 by 80x1080 px; outputs that touch are placed edge to edge (bezels are compensated from "bezel", not from gaps)"#]),
        Case(name: "duplicate output ids and connectors",
             json: layoutJSON(outputs: #"{"id": "a", "connector": "DP-1", "mode": "1920x1080", "position": {"x": 0, "y": 0}}, {"id": "a", "connector": "DP-1", "mode": "1920x1080", "position": {"x": 1920, "y": 0}}"#),
             expected: [
                #"3:114: wall.outputs[1].id: duplicate output id "a" (already used by wall.outputs[0])"#,
                #"3:132: wall.outputs[1].connector: connector "DP-1" is already driven by wall.outputs[0]; each display needs its own connector"#,
             ]),
        Case(name: "zone off the wall",
             json: layoutJSON(presets: #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 960, "y": 0, "width": 1920, "height": 1080}, "content": {"type": "grid"}}]}"#),
             expected: [#"4:60: presets[0].zones[0].rect: zone "g" at 1920x1080+960+0 is not fully on the wall: 50% of it lies on no output (wall canvas 1920x1080; outputs: a 1920x1080+0+0)"#]),
        Case(name: "duplicate preset names and zone ids",
             json: layoutJSON(presets: #"{"name": "p", "zones": [{"id": "z", "rect": {"x": 0, "y": 0, "width": 10, "height": 10}, "content": {"type": "teacher"}}, {"id": "z", "rect": {"x": 0, "y": 0, "width": 10, "height": 10}, "content": {"type": "content"}}]}, {"name": "p", "zones": [{"id": "z", "rect": {"x": 0, "y": 0, "width": 10, "height": 10}, "content": {"type": "spotlight"}}]}"#),
             expected: [
                #"4:142: presets[0].zones[1].id: duplicate zone id "z" in preset "p" (already used by presets[0].zones[0])"#,
                #"4:244: presets[1].name: duplicate preset name "p" (already used by presets[0])"#,
             ]),
        Case(name: "shortcut to an unknown preset, and two actions on one key",
             json: layoutJSON(shortcuts: #"{"key": "1", "action": "preset", "preset": "mian"}, {"key": "Ctrl+Shift+a", "action": "page.next"}, {"key": "Shift+Ctrl+a", "action": "labels.toggle"}"#),
             expected: [
                #"5:58: shortcuts[0].preset: unknown preset "mian"; presets are: "main""#,
                #"5:123: shortcuts[2].key: key "Ctrl+Shift+a" is already bound to page.next at shortcuts[1]; one key, one action"#,
             ]),
        Case(name: "shortcut action misspelt and preset key without the preset action",
             json: layoutJSON(shortcuts: #"{"key": "n", "action": "page.nxt"}, {"key": "m", "action": "page.next", "preset": "main"}"#),
             expected: [
                #"5:38: shortcuts[0].action: expected one of "preset", "preset.next", "preset.previous", "page.next", "page.previous", "spotlight.next", "spotlight.previous", "spotlight.clear", "labels.toggle", got "page.nxt""#,
                #"5:97: shortcuts[1].preset: "preset" is only used with "action": "preset"; remove it or change the action"#,
             ]),
        Case(name: "bezel without physical size",
             json: layoutJSON(outputs: #"{"id": "a", "mode": "1920x1080", "position": {"x": 0, "y": 0}, "bezel": {"left": 4}}"#),
             expected: [#"3:94: wall.outputs[0].bezel: bezel needs "physical" (the display's picture size in mm) to convert millimetres to pixels"#]),
        Case(name: "duplicate JSON key",
             json: layoutJSON(outputs: #"{"id": "a", "id": "b", "mode": "1920x1080", "position": {"x": 0, "y": 0}}"#),
             expected: [#"3:34: wall.outputs[0].id: duplicate key "id"; each key may appear once"#]),
        Case(name: "unsupported version",
             json: layoutJSON().replacingOccurrences(of: #""version": 1"#, with: #""version": 2"#),
             expected: [#"2:12: version: unsupported layout version 2; this Tessera reads version 1"#]),
        Case(name: "unknown default preset and a grid tile taller than its zone",
             json: layoutJSON(presets: #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 0, "y": 0, "width": 1920, "height": 100}, "content": {"type": "grid", "minTileHeight": 200}}]}"#,
                              extra: #" "defaultPreset": "gallery","#),
             expected: [
                #"2:32: defaultPreset: unknown preset "gallery"; presets are: "main""#,
                #"4:153: presets[0].zones[0].content.minTileHeight: minTileHeight 200 is taller than the zone (100 px): no tile would fit"#,
             ]),
        Case(name: "content type misspelt and missing",
             json: layoutJSON(presets: #"{"name": "main", "zones": [{"id": "g", "rect": {"x": 0, "y": 0, "width": 10, "height": 10}, "content": {"type": "techer"}}, {"id": "h", "rect": {"x": 0, "y": 0, "width": 10, "height": 10}, "content": {}}]}"#),
             expected: [
                #"4:125: presets[0].zones[0].content.type: expected one of "grid", "teacher", "content", "participant", "spotlight", got "techer""#,
                #"4:213: presets[0].zones[1].content: missing required key "type" (one of "grid", "teacher", "content", "participant", "spotlight")"#,
             ]),
        Case(name: "a broken output does not also make the zones on it look off the wall",
             json: layoutJSON(outputs: #"{"id": "a", "mode": "1920x1080x60", "position": {"x": 0, "y": 0}}"#),
             expected: [#"3:42: wall.outputs[0].mode: expected a mode WIDTHxHEIGHT or WIDTHxHEIGHT@REFRESH such as "3840x2160@60", got "1920x1080x60""#]),
        Case(name: "a broken preset does not also make its shortcut look unknown",
             json: layoutJSON(presets: #"{"name": "Main", "zones": []}"#, shortcuts: #"{"key": "1", "action": "preset", "preset": "Main"}"#),
             expected: [
                #"4:22: presets[0].name: expected a preset name of lower-case letters, digits and '-' (at most 64), got "Main""#,
                #"4:39: presets[0].zones: expected at least 1 zone, got an empty array"#,
             ]),
        Case(name: "empty lists",
             json: "{\"version\": 1, \"wall\": {\"outputs\": []}, \"presets\": []}",
             expected: [
                "1:36: wall.outputs: expected at least 1 output, got an empty array",
                "1:52: presets: expected at least 1 preset, got an empty array",
             ]),
    ]

    @Test(arguments: cases)
    func reportsEveryProblemWithPositionAndPath(_ c: Case) {
        #expect(problems(c.json) == c.expected)
    }

    @Test(arguments: [
        ("", "1:1: (root): invalid JSON: the file is empty; expected a JSON object"),
        ("{\"version\": 1,\n  \"wall\": {}\n  \"presets\": []}", "3:3: (root): invalid JSON: unexpected '\"'; expected ',' or '}' (a comma may be missing)"),
        ("{\"version\": 1,}", "1:15: (root): invalid JSON: trailing comma before '}'; remove the comma"),
        ("{\"name\": \"unterminated", "1:23: (root): invalid JSON: unterminated string (opened at 1:10)"),
        ("{\"version\": tru}", "1:13: (root): invalid JSON: invalid literal; expected true"),
        ("{\"version\": 01}", "1:13: (root): invalid JSON: invalid number: leading zeros are not allowed"),
        ("{} {}", "1:4: (root): invalid JSON: unexpected '{' after the end of the JSON document"),
        ("[\n\n   ]]", "3:5: (root): invalid JSON: unexpected ']' after the end of the JSON document"),
    ])
    func syntaxErrorsHaveTheirPosition(json: String, expected: String) {
        #expect(problems(json) == [expected])
    }

    @Test func keyNamesAreCheckedAgainstTheKeysymTable() {
        let known: @Sendable (String) -> Bool = { ["Page_Down", "a", "1"].contains($0) }
        let json = layoutJSON(shortcuts: #"{"key": "PageDown", "action": "page.next"}, {"key": "Ctrl+a", "action": "labels.toggle"}"#)
        #expect(problems(json, options: .init(isKnownKeyName: known)) == [
            #"5:23: shortcuts[0].key: unknown key name "PageDown"; use an xkbcommon keysym name such as "Page_Down", "F1" or "a"; did you mean "Page_Down"?"#,
        ])
        #expect(problems(json) == [], "without a keysym table only the syntax is checked")
    }

    @Test func errorLinesCarryTheFileName() {
        let result = LayoutLoader.decode(Array(#"{"version": 1}"#.utf8), file: "Layouts/x.json")
        guard case .failure(let error) = result else { Issue.record("expected a failure"); return }
        #expect(error.lines == [
            #"Layouts/x.json:1:1: (root): missing required key "wall" (the displays: {"outputs": [...]})"#,
            #"Layouts/x.json:1:1: (root): missing required key "presets" (the named layouts a teacher switches between)"#,
        ])
    }

    @Test func missingFileSaysSo() {
        guard case .failure(let error) = LayoutLoader.load(path: "/nonexistent/layout.json") else { Issue.record("loaded"); return }
        #expect(error.lines == ["/nonexistent/layout.json:1:1: (root): no such file"])
    }

    @Test func decodesEveryField() throws {
        let json = """
        {"version": 1, "name": "Room 1",
         "wall": {"outputs": [{"id": "left", "connector": "HDMI-A-1", "mode": "3840x2160@59.94", "position": {"x": 0, "y": 0},
                   "rotation": 90, "physical": {"width": 1209, "height": 680}, "bezel": {"left": 3.5, "right": 3.5, "top": 4, "bottom": 5.5}}]},
         "style": {"fit": "contain", "aspect": "4:3", "gap": 4, "border": {"width": 2, "color": "#112233"},
                   "labels": {"show": false, "position": "top-right", "size": 30},
                   "highlight": {"width": 9, "hand": "#010203", "speaker": "#040506"}, "background": "#00000080"},
         "presets": [{"name": "a", "title": "A", "zones": [
            {"id": "g", "rect": {"x": 0, "y": 0, "width": 2160, "height": 1000},
             "content": {"type": "grid", "order": "hands-first", "maxTiles": 9, "minTileHeight": 100, "roles": ["student"]},
             "style": {"labels": {"size": 48}}},
            {"id": "p", "rect": {"x": 0, "y": 1000, "width": 2160, "height": 1000}, "content": {"type": "participant", "participant": "guest-7"}}]}],
         "defaultPreset": "a",
         "shortcuts": [{"key": "Shift+Ctrl+F5", "action": "preset", "preset": "a"}]}
        """
        let layout = try decode(json)
        let out = layout.outputs[0]
        #expect(out.connector == "HDMI-A-1")
        #expect(out.mode == Mode(width: 3840, height: 2160, refresh: 59.94))
        #expect(out.rotation == .quarter)
        #expect(out.canvasRect == Rect(x: 0, y: 0, width: 2160, height: 3840))
        #expect(out.bezel == Bezel(left: 3.5, right: 3.5, top: 4, bottom: 5.5))
        #expect(layout.style.fit == .contain)
        #expect(layout.style.aspect == Aspect(width: 4, height: 3))
        #expect(layout.style.border == Border(width: 2, color: Color(red: 0x11, green: 0x22, blue: 0x33)))
        #expect(layout.style.labels == Style.Labels(show: false, position: .topRight, size: 30))
        #expect(layout.style.background == Color(red: 0, green: 0, blue: 0, alpha: 0x80))
        let zone = layout.presets[0].zones[0]
        #expect(zone.content == .grid(GridRule(order: .handsFirst, maxTiles: 9, minTileHeight: 100, roles: [.student])))
        let zoneStyle = zone.style.applied(to: layout.style)
        #expect(zoneStyle.labels == Style.Labels(show: false, position: .topRight, size: 48), "a zone overrides field by field")
        #expect(layout.presets[0].zones[1].content == .participant("guest-7"))
        #expect(layout.shortcuts == [Shortcut(key: KeyCombo(modifiers: [.ctrl, .shift], key: "F5"), action: .selectPreset("a"))])
        #expect(layout.shortcuts[0].key.description == "Ctrl+Shift+F5")
    }

    @Test func examplesAreValid() throws {
        for name in exampleLayouts {
            let result = LayoutLoader.load(path: examplePath(name))
            if case .failure(let e) = result { Issue.record("\(name):\n\(e)") }
        }
    }

    @Test func schemaFileIsRecognisedAsASchema() throws {
        let schema = try [UInt8](Data(contentsOf: repoRoot.appendingPathComponent("Layouts/layout.schema.json")))
        #expect(LayoutLoader.isJSONSchema(schema))
        let example = try [UInt8](Data(contentsOf: repoRoot.appendingPathComponent("Layouts/dual-4k.json")))
        #expect(!LayoutLoader.isJSONSchema(example))
    }
}

import Foundation
