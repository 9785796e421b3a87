import Foundation
import TesseraCore

/// Reads layout files: JSON syntax, then every key and value, then the checks across the file
/// (overlaps, zones off the wall, duplicates, shortcuts). All problems are reported together.
public enum LayoutLoader {
    public struct Options: Sendable {
        /// Whether a key name is a real keysym (the kiosk passes xkbcommon's table); nil skips the check.
        public var isKnownKeyName: (@Sendable (String) -> Bool)?
        public init(isKnownKeyName: (@Sendable (String) -> Bool)? = nil) { self.isKnownKeyName = isKnownKeyName }
    }

    /// Reads and checks the layout at `path`. A file that cannot be read, or is larger than
    /// `LayoutLimits.fileBytes`, is reported as one problem; no more than the limit is ever read.
    public static func load(path: String, options: Options = Options()) -> Result<Layout, LayoutError> {
        read(path: path, options: options).result
    }

    /// Like `load`, with the warnings of a layout that is valid.
    public static func read(path: String, options: Options = Options()) -> LayoutReport {
        func unreadable(_ why: String) -> LayoutReport {
            LayoutReport(file: path, layout: nil, errors: [
                LayoutDiagnostic(location: SourceLocation(line: 1, column: 1), path: .root, message: why),
            ], warnings: [])
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return unreadable(FileManager.default.fileExists(atPath: path) ? "cannot read the file (check its permissions)" : "no such file")
        }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: LayoutLimits.fileBytes + 1) else {
            return unreadable("cannot read the file (is it a directory?)")
        }
        return read(Array(data), file: path, options: options)
    }

    /// Whether a file is a JSON Schema (such as `Layouts/layout.schema.json`) rather than a layout,
    /// so `tessera validate Layouts/*.json` can pass over it instead of failing on it.
    /// Only a file within the size limit that mentions json-schema.org is parsed for this, so the
    /// test costs nothing for a layout and never reads more than `LayoutLimits.fileBytes`.
    public static func isJSONSchema(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: LayoutLimits.fileBytes + 1), data.count <= LayoutLimits.fileBytes else { return false }
        return isJSONSchema(Array(data))
    }

    public static func isJSONSchema(_ bytes: [UInt8]) -> Bool {
        guard bytes.count <= LayoutLimits.fileBytes, contains(bytes, Array("json-schema.org".utf8)) else { return false }
        guard case .object(let members)? = (try? JSONParser.parse(bytes))?.value,
              let schema = members.first(where: { $0.key == "$schema" }),
              case .string(let uri) = schema.value.value else { return false }
        return uri.contains("json-schema.org")
    }

    private static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard bytes.count >= needle.count else { return false }
        return (0...(bytes.count - needle.count)).contains { i in needle.indices.allSatisfy { bytes[i + $0] == needle[$0] } }
    }

    public static func decode(_ bytes: [UInt8], file: String, options: Options = Options()) -> Result<Layout, LayoutError> {
        read(bytes, file: file, options: options).result
    }

    /// Parses, decodes and checks a layout: its errors, or the layout and its warnings.
    public static func read(_ bytes: [UInt8], file: String, options: Options = Options()) -> LayoutReport {
        guard bytes.count <= LayoutLimits.fileBytes else {
            return LayoutReport(file: file, layout: nil, errors: [
                LayoutDiagnostic(location: SourceLocation(line: 1, column: 1), path: .root,
                                 message: "the file is over 4 MiB (\(LayoutLimits.fileBytes) bytes), the most a layout may be"),
            ], warnings: [])
        }
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            return LayoutReport(file: file, layout: nil, errors: [
                LayoutDiagnostic(location: error.location, path: .root, message: "invalid JSON: \(error.message)"),
            ], warnings: [])
        }
        let sink = DiagnosticSink()
        let decoding = LayoutDecoding(sink: sink)
        let layout = decoding.layout(NodeReader(node: root, path: .root, sink: sink))
        if let layout { LayoutChecks(layout: layout, map: decoding.map, sink: sink, options: options).run() }
        if let layout, sink.diagnostics.isEmpty {
            return LayoutReport(file: file, layout: layout, errors: [], warnings: sink.warnings)
        }
        return LayoutReport(file: file, layout: nil, errors: sink.diagnostics, warnings: sink.warnings)
    }
}

/// What reading a layout found: the layout when it has no errors, and its warnings (things that
/// are allowed but almost certainly not meant, such as a zone that can never show anyone).
public struct LayoutReport: Sendable {
    public var file: String
    public var layout: Layout?
    public var errors: [LayoutDiagnostic]
    public var warnings: [LayoutDiagnostic]

    public var result: Result<Layout, LayoutError> {
        if let layout { return .success(layout) }
        return .failure(LayoutError(file: file, diagnostics: errors))
    }

    /// `FILE:LINE:COLUMN: JSON.PATH: warning: message`, in file order.
    public var warningLines: [String] { LayoutError(file: file, diagnostics: warnings).lines }
}

let idPattern = "an id of letters, digits, '-' and '_' (at most 64, starting with a letter or digit)"
func isValidID(_ s: String) -> Bool {
    guard let first = s.first, s.count <= 64, first.isASCII, first.isLetter || first.isNumber else { return false }
    return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
}
let presetNamePattern = "a preset name of lower-case letters, digits and '-' (at most 64)"
func isValidPresetName(_ s: String) -> Bool {
    guard let first = s.first, s.count <= 64, first.isASCII, first.isLowercase || first.isNumber else { return false }
    return s.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
}
func isValidConnector(_ s: String) -> Bool {
    if s == "any" { return true }
    guard cardPrefixLength(s) == nil else { return false }
    let parts = s.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count >= 2, let last = parts.last, !last.isEmpty, last.allSatisfy({ $0.isASCII && $0.isNumber }),
          let first = parts.first?.first, first.isASCII, first.isLetter else { return false }
    return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }
}
/// The length of a `cardN-` prefix (as in /sys/class/drm/card0-HDMI-A-1), which connector names
/// in layouts do not have: the kiosk matches the kernel's connector name, `HDMI-A-1`.
func cardPrefixLength(_ s: String) -> Int? {
    let parts = s.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2, parts[0].hasPrefix("card"), parts[0].count > 4,
          parts[0].dropFirst(4).allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return parts[0].count + 1
}

/// What could be read of one output, even when some of its fields are wrong, so that the checks
/// across the file still see its id, connector and place and report every problem it has.
struct OutputDraft {
    var path: JSONPath
    var id: String?
    var connector: String?
    /// Known when mode, position and rotation all decoded.
    var canvasRect: Rect?
    var hasBezel = false
    var hasPhysical = false
}

/// What could be read of one zone, for the same reason.
struct ZoneDraft {
    var path: JSONPath
    var id: String?
    var rect: Rect?
    var content: ZoneContent?
}

struct PresetDraft {
    var path: JSONPath
    var name: String?
    var zones: [ZoneDraft]
}

/// Where each item came from, and what could be read of the items that failed to decode, so
/// checks across the file can point at the right JSON path and still cover broken items.
struct SourceMap {
    var outputs: [OutputDraft] = []
    var presets: [PresetDraft] = []
    var shortcuts: [JSONPath] = []
    /// False when the output list itself was unreadable (not an array, or over its limit).
    var outputListRead = true
    /// False when a preset's name could not be read (or the list itself): checks that need every
    /// preset name (defaultPreset, shortcut presets) are then skipped rather than piling up errors.
    var allPresetNamesRead = true

    /// Every output's place on the canvas is known, so "is this zone on the wall" can be answered.
    var everyOutputPlaced: Bool { outputListRead && outputs.allSatisfy { $0.canvasRect != nil } }
}

/// Turns the JSON tree into a `Layout`, reporting each wrong or unknown field. Values that are
/// wrong are left out (and reported) so the rest can still be read and checked.
final class LayoutDecoding {
    let sink: DiagnosticSink
    private(set) var map = SourceMap()

    init(sink: DiagnosticSink) { self.sink = sink }

    func layout(_ root: NodeReader) -> Layout? {
        guard let o = root.object("a layout object ({\"version\": 1, \"wall\": …, \"presets\": …})",
                                  allowed: ["version", "name", "wall", "style", "presets", "defaultPreset", "shortcuts"]) else { return nil }
        if let v = o.required("version", "the layout format version, 1") {
            if let n = v.int(LayoutLimits.version), n != Layout.formatVersion {
                v.problem("unsupported layout version \(n); this Tessera reads version \(Layout.formatVersion)")
            }
        }
        let name = o["name"]?.string()
        var outputs: [OutputConfig] = []
        map.outputListRead = false
        if let wall = o.required("wall", "the displays: {\"outputs\": [...]}")?.object(allowed: ["outputs"]),
           let list = wall.required("outputs", "a list of displays")?.array(minCount: 1, maxCount: LayoutLimits.outputs, of: "outputs") {
            map.outputListRead = true
            for r in list {
                var draft = OutputDraft(path: r.path)
                if let out = output(r, draft: &draft) { outputs.append(out) }
                map.outputs.append(draft)
            }
        }
        let style = o["style"].map { styleOverride($0).applied(to: .default) } ?? .default
        var presets: [Preset] = []
        map.allPresetNamesRead = false
        if let list = o.required("presets", "the named layouts a teacher switches between")?
            .array(minCount: 1, maxCount: LayoutLimits.presets, of: "presets") {
            map.allPresetNamesRead = true
            for r in list {
                var draft = PresetDraft(path: r.path, zones: [])
                if let p = preset(r, draft: &draft) { presets.append(p) }
                if draft.name == nil { map.allPresetNamesRead = false }
                map.presets.append(draft)
            }
        }
        let defaultPreset = o["defaultPreset"]?.string()
        var shortcuts: [Shortcut] = []
        for r in o["shortcuts"]?.array(maxCount: LayoutLimits.shortcuts, of: "shortcuts") ?? [] {
            if let s = shortcut(r) { shortcuts.append(s); map.shortcuts.append(r.path) }
        }
        return Layout(name: name, outputs: outputs, style: style, presets: presets,
                      defaultPreset: defaultPreset, shortcuts: shortcuts)
    }

    func output(_ r: NodeReader, draft: inout OutputDraft) -> OutputConfig? {
        guard let o = r.object(allowed: ["id", "connector", "mode", "position", "rotation", "physical", "bezel"]) else { return nil }
        let id = o.required("id", idPattern)?.string(matching: isValidID, expected: idPattern)
        let connector = o["connector"].map { c -> String? in
            if case .string(let s) = c.node.value, let n = cardPrefixLength(s) {
                c.problem("connector names have no card prefix: write \"\(s.dropFirst(n))\" (the kernel's name without \"\(s.prefix(n))\")")
                return nil
            }
            return c.string(matching: isValidConnector, expected: "a DRM connector name such as \"HDMI-A-1\" or \"DP-2\", or \"any\"")
        } ?? "any"
        let mode = o.required("mode", "e.g. \"3840x2160@60\"")?.string(matching: { Mode($0) != nil },
            expected: "a mode WIDTHxHEIGHT or WIDTHxHEIGHT@REFRESH such as \"3840x2160@60\"").flatMap(Mode.init)
        let position = o.required("position", "{\"x\": …, \"y\": …} on the wall canvas").flatMap(point)
        var rotation: Rotation? = Rotation.none
        if let r = o["rotation"] {
            if case .number(let text) = r.node.value, let degrees = Int(text) { rotation = Rotation(rawValue: degrees) } else { rotation = nil }
            if rotation == nil { r.fail("a rotation of 0, 90, 180 or 270") }
        }
        let physical = o["physical"].flatMap(physicalSize)
        let bezel = o["bezel"].flatMap(bezelValue)
        draft.id = id
        draft.connector = connector
        draft.hasBezel = o["bezel"] != nil
        draft.hasPhysical = o["physical"] != nil
        if let mode, let position, let rotation {
            draft.canvasRect = OutputConfig(id: "", mode: mode, position: position, rotation: rotation).canvasRect
        }
        guard let id, let connector, let mode, let position, let rotation else { return nil }
        if o["physical"] != nil && physical == nil { return nil }
        if o["bezel"] != nil && bezel == nil { return nil }
        return OutputConfig(id: id, connector: connector, mode: mode, position: position, rotation: rotation,
                            physical: physical, bezel: bezel ?? .none)
    }

    func point(_ r: NodeReader) -> Point? {
        guard let o = r.object("an object {\"x\": …, \"y\": …}", allowed: ["x", "y"]) else { return nil }
        let x = o.required("x", "canvas pixels")?.int(LayoutLimits.coordinate)
        let y = o.required("y", "canvas pixels")?.int(LayoutLimits.coordinate)
        guard let x, let y else { return nil }
        return Point(x: x, y: y)
    }

    func rect(_ r: NodeReader) -> Rect? {
        guard let o = r.object("an object {\"x\", \"y\", \"width\", \"height\"}", allowed: ["x", "y", "width", "height"]) else { return nil }
        let x = o.required("x", "canvas pixels")?.int(LayoutLimits.coordinate)
        let y = o.required("y", "canvas pixels")?.int(LayoutLimits.coordinate)
        let w = o.required("width", "pixels")?.int(LayoutLimits.length)
        let h = o.required("height", "pixels")?.int(LayoutLimits.length)
        guard let x, let y, let w, let h else { return nil }
        return Rect(x: x, y: y, width: w, height: h)
    }

    func physicalSize(_ r: NodeReader) -> PhysicalSize? {
        guard let o = r.object("an object {\"width\": mm, \"height\": mm}", allowed: ["width", "height"]) else { return nil }
        let w = o.required("width", "millimetres")?.number(LayoutLimits.physicalMillimetres, unit: " mm")
        let h = o.required("height", "millimetres")?.number(LayoutLimits.physicalMillimetres, unit: " mm")
        guard let w, let h else { return nil }
        return PhysicalSize(width: w, height: h)
    }

    func bezelValue(_ r: NodeReader) -> Bezel? {
        guard let o = r.object("an object {\"left\", \"right\", \"top\", \"bottom\"} in mm", allowed: ["left", "right", "top", "bottom"]) else { return nil }
        var ok = true
        func side(_ k: String) -> Double {
            guard let f = o[k] else { return 0 }
            guard let v = f.number(LayoutLimits.bezelMillimetres, unit: " mm") else { ok = false; return 0 }
            return v
        }
        let bezel = Bezel(left: side("left"), right: side("right"), top: side("top"), bottom: side("bottom"))
        return ok ? bezel : nil
    }

    func color(_ r: NodeReader) -> Color? {
        r.string(matching: { Color(hex: $0) != nil }, expected: "a colour \"#rrggbb\" or \"#rrggbbaa\"").flatMap(Color.init(hex:))
    }

    func styleOverride(_ r: NodeReader) -> StyleOverride {
        var s = StyleOverride()
        guard let o = r.object(allowed: ["fit", "aspect", "gap", "border", "labels", "highlight", "background"]) else { return s }
        s.fit = o["fit"]?.oneOf([("contain", Fit.contain), ("cover", .cover)])
        s.aspect = o["aspect"]?.string(matching: { Aspect($0) != nil }, expected: "an aspect \"W:H\" such as \"16:9\"").flatMap(Aspect.init)
        s.gap = o["gap"]?.int(LayoutLimits.gap)
        if let b = o["border"]?.object(allowed: ["width", "color"]) {
            s.borderWidth = b["width"]?.int(LayoutLimits.lineWidth)
            s.borderColor = b["color"].flatMap(color)
            // Format v1 gives the border no default colour: a border that is drawn says its colour
            // in the same object (the schema states the same rule).
            if let w = s.borderWidth, w > 0, b["color"] == nil {
                b.node.problem("a border of width \(w) needs a \"color\" (\"#rrggbb\"); give one, or width 0 for no border")
            }
        }
        if let l = o["labels"]?.object(allowed: ["show", "position", "size"]) {
            s.labelsShow = l["show"]?.bool()
            s.labelsPosition = l["position"]?.oneOf(LabelPosition.allCases.map { ($0.rawValue, $0) })
            s.labelsSize = l["size"]?.int(LayoutLimits.labelSize)
        }
        if let h = o["highlight"]?.object(allowed: ["width", "hand", "speaker"]) {
            s.highlightWidth = h["width"]?.int(LayoutLimits.lineWidth)
            s.highlightHand = h["hand"].flatMap(color)
            s.highlightSpeaker = h["speaker"].flatMap(color)
        }
        s.background = o["background"].flatMap(color)
        return s
    }

    func preset(_ r: NodeReader, draft: inout PresetDraft) -> Preset? {
        guard let o = r.object(allowed: ["name", "title", "zones"]) else { return nil }
        let name = o.required("name", presetNamePattern)?.string(matching: isValidPresetName, expected: presetNamePattern)
        let title = o["title"]?.string()
        var zones: [Zone] = []
        for z in o.required("zones", "the preset's rectangles")?.array(minCount: 1, maxCount: LayoutLimits.zonesPerPreset, of: "zones") ?? [] {
            var zd = ZoneDraft(path: z.path)
            if let decoded = zone(z, draft: &zd) { zones.append(decoded) }
            draft.zones.append(zd)
        }
        draft.name = name
        guard let name else { return nil }
        return Preset(name: name, title: title, zones: zones)
    }

    func zone(_ r: NodeReader, draft: inout ZoneDraft) -> Zone? {
        guard let o = r.object(allowed: ["id", "rect", "content", "style"]) else { return nil }
        let id = o.required("id", idPattern)?.string(matching: isValidID, expected: idPattern)
        let rect = o.required("rect", "{\"x\", \"y\", \"width\", \"height\"} on the wall canvas").flatMap(rect)
        let content = o.required("content", "what the zone shows, e.g. {\"type\": \"grid\"}").flatMap(zoneContent)
        let style = o["style"].map(styleOverride) ?? StyleOverride()
        draft.id = id; draft.rect = rect; draft.content = content
        guard let id, let rect, let content else { return nil }
        return Zone(id: id, rect: rect, content: content, style: style)
    }

    static let contentTypes = ["grid", "teacher", "content", "participant", "spotlight"]

    func zoneContent(_ r: NodeReader) -> ZoneContent? {
        guard case .object(let members) = r.node.value else { r.fail("an object with a \"type\""); return nil }
        // The allowed keys depend on the type, so read the type first.
        let typeMember = members.first { $0.key == "type" }
        let typeReader = typeMember.map { NodeReader(node: $0.value, path: r.path.appending("type"), sink: sink) }
        let type = typeReader?.oneOf(Self.contentTypes.map { ($0, $0) })
        switch type {
        case "grid":
            guard let o = r.object(allowed: ["type", "order", "maxTiles", "minTileHeight", "roles"]) else { return nil }
            let order = o["order"]?.oneOf(GridOrder.allCases.map { ($0.rawValue, $0) }) ?? .join
            let maxTiles = o["maxTiles"]?.int(LayoutLimits.maxTiles)
            let minTileHeight = o["minTileHeight"]?.int(LayoutLimits.minTileHeight)
            var roles: Set<Role>?
            if let list = o["roles"]?.array(minCount: 1, maxCount: Role.allCases.count, of: "roles") {
                var seen = Set<Role>()
                for item in list {
                    guard let role = item.oneOf(Role.allCases.map { ($0.rawValue, $0) }) else { continue }
                    if !seen.insert(role).inserted { item.problem("role \"\(role.rawValue)\" is listed twice") }
                }
                roles = seen
            }
            return .grid(GridRule(order: order, maxTiles: maxTiles, minTileHeight: minTileHeight, roles: roles))
        case "participant":
            guard let o = r.object(allowed: ["type", "participant"]) else { return nil }
            guard let id = o.required("participant", "the pinned participant's id")?
                .string(matching: { !$0.isEmpty }, expected: "a participant id") else { return nil }
            return .participant(ParticipantID(id))
        case "teacher", "content", "spotlight":
            _ = r.object(allowed: ["type"])
            return type == "teacher" ? .teacher : type == "content" ? .content : .spotlight
        default:
            if typeMember == nil {
                r.problem("missing required key \"type\" (one of \(Self.contentTypes.map { "\"\($0)\"" }.joined(separator: ", ")))")
            }
            return nil
        }
    }

    func shortcut(_ r: NodeReader) -> Shortcut? {
        guard let o = r.object(allowed: ["key", "action", "preset"]) else { return nil }
        var key: KeyCombo?
        if let k = o.required("key", "a key name such as \"1\", \"Page_Down\" or \"Ctrl+Right\"") {
            if case .string(let text) = k.node.value, KeyCombo(text) == nil, let fixed = KeyCombo.correctingModifierCase(text) {
                k.problem("modifiers are written Ctrl, Alt, Shift and Super: write \"\(fixed)\", not \"\(text)\"")
            } else {
                key = k.string(matching: { KeyCombo($0) != nil },
                               expected: "a key name such as \"1\", \"Page_Down\" or \"Ctrl+Right\" (modifiers Ctrl, Alt, Shift, Super)")
                    .flatMap(KeyCombo.init)
            }
        }
        let names = [("preset", "preset")] + Action.simpleNames.map { ($0.0, $0.0) }
        let actionName = o.required("action", "what the key does, e.g. \"page.next\"")?.oneOf(names)
        var action: Action?
        if actionName == "preset" {
            if let p = o.required("preset", "the name of the preset to show")?.string() { action = .selectPreset(p) }
        } else if let actionName {
            action = Action.simpleNames.first { $0.0 == actionName }?.1
            if let p = o["preset"] { p.problem("\"preset\" is only used with \"action\": \"preset\"; remove it or change the action") }
        }
        guard let key, let action else { return nil }
        return Shortcut(key: key, action: action)
    }
}
