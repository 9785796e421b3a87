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

    /// Works on what could be read of each output (`OutputDraft`), so an output with a wrong mode
    /// still has its duplicate id or connector reported.
    private func checkOutputs() {
        var ids: [String: JSONPath] = [:]
        var connectors: [String: JSONPath] = [:]
        for (i, o) in map.outputs.enumerated() {
            let path = o.path
            if let id = o.id {
                if let first = ids[id] {
                    sink.report("duplicate output id \"\(id)\" (already used by \(first))", path: path.appending("id"))
                } else { ids[id] = path }
            }
            if let connector = o.connector, connector != "any" {
                if let first = connectors[connector] {
                    sink.report("connector \"\(connector)\" is already driven by \(first); each display needs its own connector",
                                path: path.appending("connector"))
                } else { connectors[connector] = path }
            }
            if o.hasBezel && !o.hasPhysical {
                sink.report("bezel needs \"physical\" (the display's picture size in mm) to convert millimetres to pixels",
                            path: path.appending("bezel"))
            }
            guard let rect = o.canvasRect else { continue }
            for earlier in map.outputs[..<i] {
                guard let other = earlier.canvasRect, let overlap = rect.intersection(other) else { continue }
                sink.report("output \(name(o)) at \(rect) overlaps output \(name(earlier)) at \(other) "
                    + "by \(overlap.width)x\(overlap.height) px; outputs that touch are placed edge to edge "
                    + "(bezels are compensated from \"bezel\", not from gaps)", path: path.appending("position"))
            }
        }
    }

    private func name(_ o: OutputDraft) -> String { o.id.map { "\"\($0)\"" } ?? o.path.description }

    /// Works on what could be read of each preset and zone, so a zone with a wrong content type
    /// still has its rectangle checked against the wall.
    private func checkPresets() {
        var names: [String: JSONPath] = [:]
        let placed = map.everyOutputPlaced && !map.outputs.isEmpty
        let outputRects = map.outputs.compactMap { o in o.canvasRect.map { (name(o), $0) } }
        let canvas = outputRects.dropFirst().reduce(outputRects.first?.1 ?? Rect(x: 0, y: 0, width: 0, height: 0)) { $0.union($1.1) }
        for preset in map.presets {
            let path = preset.path
            if let pname = preset.name {
                if let first = names[pname] {
                    sink.report("duplicate preset name \"\(pname)\" (already used by \(first))", path: path.appending("name"))
                } else { names[pname] = path }
            }
            let label = preset.name.map { "preset \"\($0)\"" } ?? path.description
            var zoneIDs: [String: JSONPath] = [:]
            for zone in preset.zones {
                let zpath = zone.path
                if let id = zone.id {
                    if let first = zoneIDs[id] {
                        sink.report("duplicate zone id \"\(id)\" in \(label) (already used by \(first))", path: zpath.appending("id"))
                    } else { zoneIDs[id] = zpath }
                }
                guard let rect = zone.rect else { continue }
                if placed {
                    let onWall = outputRects.reduce(0) { $0 + (rect.intersection($1.1)?.area ?? 0) }
                    if onWall < rect.area {
                        let off = rect.area - onWall
                        let percent = max(1, Int((Double(off) * 100 / Double(rect.area)).rounded()))
                        sink.report("zone \(zoneName(zone)) at \(rect) is not fully on the wall: \(percent)% of it lies on no output "
                            + "(wall canvas \(canvas.width)x\(canvas.height); outputs: "
                            + outputRects.map { "\($0.0.trimmingQuotes) \($0.1)" }.joined(separator: ", ") + ")",
                            path: zpath.appending("rect"))
                    }
                }
                if case .grid(let rule)? = zone.content, let minHeight = rule.minTileHeight, minHeight > rect.height {
                    sink.report("minTileHeight \(minHeight) is taller than the zone (\(rect.height) px): no tile would fit",
                                path: zpath.appending("content").appending("minTileHeight"))
                }
            }
            warnAboutUnseenZones(preset)
        }
        if map.allPresetNamesRead, let def = map.presets.isEmpty ? nil : layout.defaultPreset, layout.preset(named: def) == nil {
            sink.report("unknown preset \"\(def)\"; presets are: \(presetList)", path: JSONPath([.key("defaultPreset")]))
        }
    }

    private func zoneName(_ z: ZoneDraft) -> String { z.id.map { "\"\($0)\"" } ?? z.path.description }

    /// Warnings (not errors) for zones that are allowed but can never be seen doing their job:
    /// - a grid after a grid that takes everyone it could show (no `maxTiles`, no `minTileHeight`,
    ///   and every role the later grid shows), since grids fill in zone order;
    /// - a zone wholly inside a later zone, which is drawn over it.
    private func warnAboutUnseenZones(_ preset: PresetDraft) {
        let zones = preset.zones
        for (i, zone) in zones.enumerated() {
            if case .grid(let rule)? = zone.content {
                for earlier in zones[..<i] {
                    guard case .grid(let first)? = earlier.content, first.maxTiles == nil, first.minTileHeight == nil else { continue }
                    let takesAll = first.roles == nil || (rule.roles.map { $0.isSubset(of: first.roles!) } ?? false)
                    guard takesAll else { continue }
                    sink.warn("grid zone \(zoneName(zone)) can never show anyone: the earlier grid \(zoneName(earlier)) at "
                        + "\(earlier.path) has no \"maxTiles\" or \"minTileHeight\", so it takes everyone first; "
                        + "give it a \"maxTiles\", or remove this zone", path: zone.path)
                    break
                }
            }
            guard let rect = zone.rect else { continue }
            for later in zones[(i + 1)...] {
                guard let cover = later.rect, cover.contains(rect) else { continue }
                sink.warn("zone \(zoneName(zone)) is hidden: the later zone \(zoneName(later)) at \(later.path) covers it wholly "
                    + "(later zones are drawn on top); move or shrink one of them, or list them the other way round",
                    path: zone.path.appending("rect"))
                break
            }
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
            if map.allPresetNamesRead, case .selectPreset(let name) = s.action, layout.preset(named: name) == nil {
                sink.report("unknown preset \"\(name)\"; presets are: \(presetList)", path: path.appending("preset"))
            }
        }
    }

    static let commonKeys = ["Page_Down", "Page_Up", "Left", "Right", "Up", "Down", "Home", "End", "Escape",
                             "Return", "space", "Tab", "BackSpace", "Delete", "Insert"] + (1...12).map { "F\($0)" }
}

private extension String {
    var trimmingQuotes: String { hasPrefix("\"") && hasSuffix("\"") && count >= 2 ? String(dropFirst().dropLast()) : self }
}
