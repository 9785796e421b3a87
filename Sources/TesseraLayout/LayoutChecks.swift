import TesseraCore

/// The checks that look across a whole layout: what a schema cannot say.
struct LayoutChecks {
    let layout: Layout
    let map: SourceMap
    let sink: DiagnosticSink
    let options: LayoutLoader.Options

    func run() {
        checkOutputs()
        checkPresets()
        checkShortcuts()
    }

    private func checkOutputs() {
        var ids: [String: JSONPath] = [:]
        var connectors: [String: JSONPath] = [:]
        for (i, o) in layout.outputs.enumerated() {
            let path = map.outputs[i]
            if let first = ids[o.id] {
                sink.report("duplicate output id \"\(o.id)\" (already used by \(first))", path: path.appending("id"))
            } else { ids[o.id] = path }
            if o.connector != "any" {
                if let first = connectors[o.connector] {
                    sink.report("connector \"\(o.connector)\" is already driven by \(first); each display needs its own connector",
                                path: path.appending("connector"))
                } else { connectors[o.connector] = path }
            }
            if o.bezel != .none && o.physical == nil {
                sink.report("bezel needs \"physical\" (the display's picture size in mm) to convert millimetres to pixels",
                            path: path.appending("bezel"))
            }
            for earlier in layout.outputs[..<i] {
                if let overlap = o.canvasRect.intersection(earlier.canvasRect) {
                    sink.report("output \"\(o.id)\" at \(o.canvasRect) overlaps output \"\(earlier.id)\" at \(earlier.canvasRect) "
                        + "by \(overlap.width)x\(overlap.height) px; outputs that touch are placed edge to edge "
                        + "(bezels are compensated from \"bezel\", not from gaps)", path: path.appending("position"))
                }
            }
        }
    }

    private func checkPresets() {
        var names: [String: JSONPath] = [:]
        let canvas = layout.canvas
        for (p, preset) in layout.presets.enumerated() {
            let path = map.presets[p]
            if let first = names[preset.name] {
                sink.report("duplicate preset name \"\(preset.name)\" (already used by \(first))", path: path.appending("name"))
            } else { names[preset.name] = path }
            var zoneIDs: [String: JSONPath] = [:]
            for (z, zone) in preset.zones.enumerated() {
                let zpath = map.zones[p][z]
                if let first = zoneIDs[zone.id] {
                    sink.report("duplicate zone id \"\(zone.id)\" in preset \"\(preset.name)\" (already used by \(first))",
                                path: zpath.appending("id"))
                } else { zoneIDs[zone.id] = zpath }
                guard !layout.outputs.isEmpty, map.allOutputsDecoded else { continue }
                let onWall = layout.outputs.reduce(0) { $0 + (zone.rect.intersection($1.canvasRect)?.area ?? 0) }
                if onWall < zone.rect.area {
                    let off = zone.rect.area - onWall
                    let percent = max(1, Int((Double(off) * 100 / Double(zone.rect.area)).rounded()))
                    sink.report("zone \"\(zone.id)\" at \(zone.rect) is not fully on the wall: \(percent)% of it lies on no output "
                        + "(wall canvas \(canvas.width)x\(canvas.height); outputs: "
                        + layout.outputs.map { "\($0.id) \($0.canvasRect)" }.joined(separator: ", ") + ")",
                        path: zpath.appending("rect"))
                }
                if case .grid(let rule) = zone.content, let minHeight = rule.minTileHeight, minHeight > zone.rect.height {
                    sink.report("minTileHeight \(minHeight) is taller than the zone (\(zone.rect.height) px): no tile would fit",
                                path: zpath.appending("content").appending("minTileHeight"))
                }
            }
        }
        if map.allPresetsDecoded, let def = map.presets.isEmpty ? nil : layout.defaultPreset, layout.preset(named: def) == nil {
            sink.report("unknown preset \"\(def)\"; presets are: \(presetList)", path: JSONPath([.key("defaultPreset")]))
        }
    }

    private var presetList: String {
        var seen = Set<String>()
        return layout.presets.map(\.name).filter { seen.insert($0).inserted }.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    private func checkShortcuts() {
        var bound: [String: (Action, JSONPath)] = [:]
        for (i, s) in layout.shortcuts.enumerated() {
            let path = map.shortcuts[i]
            if let (action, first) = bound[s.key.description] {
                sink.report("key \"\(s.key)\" is already bound to \(action) at \(first); one key, one action",
                            path: path.appending("key"))
            } else { bound[s.key.description] = (s.action, path) }
            if let known = options.isKnownKeyName, !known(s.key.key) {
                var message = "unknown key name \"\(s.key.key)\"; use an xkbcommon keysym name such as \"Page_Down\", \"F1\" or \"a\""
                if let guess = closest(to: s.key.key, in: Self.commonKeys) { message += "; did you mean \"\(guess)\"?" }
                sink.report(message, path: path.appending("key"))
            }
            if map.allPresetsDecoded, case .selectPreset(let name) = s.action, layout.preset(named: name) == nil {
                sink.report("unknown preset \"\(name)\"; presets are: \(presetList)", path: path.appending("preset"))
            }
        }
    }

    static let commonKeys = ["Page_Down", "Page_Up", "Left", "Right", "Up", "Down", "Home", "End", "Escape",
                             "Return", "space", "Tab", "BackSpace", "Delete", "Insert"] + (1...12).map { "F\($0)" }
}
