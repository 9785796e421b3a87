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

    /// Reads and checks the layout at `path`. A file that cannot be read is reported as one problem.
    public static func load(path: String, options: Options = Options()) -> Result<Layout, LayoutError> {
        // At most one byte over the limit is read: a huge file (or /dev/zero) costs nothing.
        guard let handle = FileHandle(forReadingAtPath: path),
              let data = try? handle.read(upToCount: LayoutLimits.fileBytes + 1) ?? Data() else {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot read the file (check its permissions)" : "no such file"
            return .failure(LayoutError(file: path, diagnostics: [
                LayoutDiagnostic(location: SourceLocation(line: 1, column: 1), path: .root, message: why),
            ]))
        }
        return decode(Array(data), file: path, options: options)
    }

    /// Whether a file is a JSON Schema (such as `Layouts/layout.schema.json`) rather than a layout,
    /// so `tessera validate Layouts/*.json` can pass over it instead of failing on it.
    public static func isJSONSchema(_ bytes: [UInt8]) -> Bool {
        guard case .object(let members)? = (try? JSONParser.parse(bytes))?.value,
              let schema = members.first(where: { $0.key == "$schema" }),
              case .string(let uri) = schema.value.value else { return false }
        return uri.contains("json-schema.org")
    }

    public static func decode(_ bytes: [UInt8], file: String, options: Options = Options()) -> Result<Layout, LayoutError> {
        guard bytes.count <= LayoutLimits.fileBytes else {
            return .failure(LayoutError(file: file, diagnostics: [
                LayoutDiagnostic(location: SourceLocation(line: 1, column: 1), path: .root,
                                 message: "the file is over 4 MiB (\(LayoutLimits.fileBytes) bytes), the most a layout may be"),
            ]))
        }
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            return .failure(LayoutError(file: file, diagnostics: [
                LayoutDiagnostic(location: error.location, path: .root, message: "invalid JSON: \(error.message)"),
            ]))
        }
        let sink = DiagnosticSink()
        let decoding = LayoutDecoding(sink: sink)
        let layout = decoding.layout(NodeReader(node: root, path: .root, sink: sink))
        if let layout { LayoutChecks(layout: layout, map: decoding.map, sink: sink, options: options).run() }
        if let layout, sink.diagnostics.isEmpty { return .success(layout) }
        return .failure(LayoutError(file: file, diagnostics: sink.diagnostics))
    }
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
    let parts = s.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count >= 2, let last = parts.last, !last.isEmpty, last.allSatisfy({ $0.isASCII && $0.isNumber }),
          let first = parts.first?.first, first.isASCII, first.isLetter else { return false }
    return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }
}

/// Where each decoded item came from, aligned with the `Layout`'s arrays (items that failed to
/// decode are left out of both), so checks across the file can point at the right JSON path.
struct SourceMap {
    var outputs: [JSONPath] = []
    var presets: [JSONPath] = []
    var zones: [[JSONPath]] = []
    var shortcuts: [JSONPath] = []
    /// False when an output or preset had errors of its own and was left out: checks that depend on
    /// every one (zones on the wall, preset names) are then skipped rather than piling up errors.
    var allOutputsDecoded = true
    var allPresetsDecoded = true
}

/// Turns the JSON tree into a `Layout`, reporting each wrong or unknown field. Values that are
/// wrong are left out (and reported) so the rest can still be read and checked.
final class LayoutDecoding {
    let sink: DiagnosticSink
    private(set) var map = SourceMap()
    private var pendingZonePaths: [JSONPath] = []

    init(sink: DiagnosticSink) { self.sink = sink }

    /// Decodes each element, keeping the paths of those that decoded.
    private func each<T>(_ list: [NodeReader]?, into paths: inout [JSONPath], _ decode: (NodeReader) -> T?) -> [T] {
        var out: [T] = []
        for r in list ?? [] {
            if let v = decode(r) { out.append(v); paths.append(r.path) }
        }
        return out
    }

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
        if let wall = o.required("wall", "the displays: {\"outputs\": [...]}")?.object(allowed: ["outputs"]),
           let list = wall.required("outputs", "a list of displays")?.array(minCount: 1, maxCount: LayoutLimits.outputs, of: "outputs") {
            var paths: [JSONPath] = []
            outputs = each(list, into: &paths, output)
            map.outputs = paths
            map.allOutputsDecoded = outputs.count == list.count
        }
        let style = o["style"].map { styleOverride($0).applied(to: .default) } ?? .default
        var presetPaths: [JSONPath] = [], zonePaths: [[JSONPath]] = []
        let presets = each(o.required("presets", "the named layouts a teacher switches between")?
            .array(minCount: 1, maxCount: LayoutLimits.presets, of: "presets"), into: &presetPaths) { r -> Preset? in
                let p = preset(r)
                if p != nil { zonePaths.append(pendingZonePaths) }
                return p
            }
        map.presets = presetPaths
        map.zones = zonePaths
        if case .array(let items)? = o["presets"]?.node.value { map.allPresetsDecoded = presets.count == items.count }
        let defaultPreset = o["defaultPreset"]?.string()
        var shortcutPaths: [JSONPath] = []
        let shortcuts = each(o["shortcuts"]?.array(maxCount: LayoutLimits.shortcuts, of: "shortcuts"), into: &shortcutPaths, shortcut)
        map.shortcuts = shortcutPaths
        return Layout(name: name, outputs: outputs, style: style, presets: presets,
                      defaultPreset: defaultPreset, shortcuts: shortcuts)
    }

    func output(_ r: NodeReader) -> OutputConfig? {
        guard let o = r.object(allowed: ["id", "connector", "mode", "position", "rotation", "physical", "bezel"]) else { return nil }
        let id = o.required("id", idPattern)?.string(matching: isValidID, expected: idPattern)
        let connector = o["connector"].map {
            $0.string(matching: isValidConnector, expected: "a DRM connector name such as \"HDMI-A-1\" or \"DP-2\", or \"any\"")
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
        guard let id, let connector, let mode, let position, let rotation else { return nil }
        if o["physical"] != nil && physical == nil { return nil }
        if o["bezel"] != nil && bezel == nil { return nil }
        return OutputConfig(id: id, connector: connector, mode: mode, position: position, rotation: rotation,
                            physical: physical, bezel: bezel ?? .none)
    }

    func point(_ r: NodeReader) -> Point? {
        guard let o = r.object("an object {\"x\": …, \"y\": …}", allowed: ["x", "y"]) else { return nil }
        let x = o.required("x", "an integer ≥ 0")?.int(LayoutLimits.coordinate)
        let y = o.required("y", "an integer ≥ 0")?.int(LayoutLimits.coordinate)
        guard let x, let y else { return nil }
        return Point(x: x, y: y)
    }

    func rect(_ r: NodeReader) -> Rect? {
        guard let o = r.object("an object {\"x\", \"y\", \"width\", \"height\"}", allowed: ["x", "y", "width", "height"]) else { return nil }
        let x = o.required("x", "an integer ≥ 0")?.int(LayoutLimits.coordinate)
        let y = o.required("y", "an integer ≥ 0")?.int(LayoutLimits.coordinate)
        let w = o.required("width", "an integer ≥ 1")?.int(LayoutLimits.length)
        let h = o.required("height", "an integer ≥ 1")?.int(LayoutLimits.length)
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
        var complete = true
        func side(_ k: String) -> Double {
            guard let r = o[k] else { return 0 }
            guard let v = r.number(LayoutLimits.bezelMillimetres, unit: " mm") else { complete = false; return 0 }
            return v
        }
        let bezel = Bezel(left: side("left"), right: side("right"), top: side("top"), bottom: side("bottom"))
        return complete ? bezel : nil
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

    func preset(_ r: NodeReader) -> Preset? {
        guard let o = r.object(allowed: ["name", "title", "zones"]) else { return nil }
        let name = o.required("name", presetNamePattern)?.string(matching: isValidPresetName, expected: presetNamePattern)
        let title = o["title"]?.string()
        var zonePaths: [JSONPath] = []
        let zones = each(o.required("zones", "the preset's rectangles")?.array(minCount: 1, maxCount: LayoutLimits.zonesPerPreset, of: "zones"), into: &zonePaths, zone)
        pendingZonePaths = zonePaths
        guard let name else { return nil }
        return Preset(name: name, title: title, zones: zones)
    }

    func zone(_ r: NodeReader) -> Zone? {
        guard let o = r.object(allowed: ["id", "rect", "content", "style"]) else { return nil }
        let id = o.required("id", idPattern)?.string(matching: isValidID, expected: idPattern)
        let rect = o.required("rect", "{\"x\", \"y\", \"width\", \"height\"} on the wall canvas").flatMap(rect)
        let content = o.required("content", "what the zone shows, e.g. {\"type\": \"grid\"}").flatMap(zoneContent)
        let style = o["style"].map(styleOverride) ?? StyleOverride()
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
                roles = Set(list.compactMap { $0.oneOf(Role.allCases.map { ($0.rawValue, $0) }) })
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
        let key = o.required("key", "a key name such as \"1\", \"Page_Down\" or \"Ctrl+Right\"")?
            .string(matching: { KeyCombo($0) != nil }, expected: "a key name such as \"1\", \"Page_Down\" or \"Ctrl+Right\" (modifiers Ctrl, Alt, Shift, Super)")
            .flatMap(KeyCombo.init)
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
