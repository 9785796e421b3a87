import TesseraCore

/// What the teacher has chosen: the preset, the page of the grids, who is in the spotlight, and
/// whether name labels show. Changed by shortcuts and by the signaling backend.
public struct ViewState: Hashable, Sendable {
    public var preset: String
    public var page: Int
    public var spotlight: ParticipantID?
    public var labelsVisible: Bool

    public init(preset: String, page: Int = 0, spotlight: ParticipantID? = nil, labelsVisible: Bool = true) {
        self.preset = preset; self.page = page; self.spotlight = spotlight; self.labelsVisible = labelsVisible
    }

    /// The state a layout starts in.
    public init(layout: Layout) { self.init(preset: layout.defaultPreset) }

    /// The state after a shortcut's action. Pages wrap; a new preset starts at its first page.
    public func applying(_ action: Action, layout: Layout, room: Room) -> ViewState {
        var s = self
        let names = layout.presets.map(\.name)
        let index = names.firstIndex(of: preset) ?? 0
        switch action {
        case .selectPreset(let name):
            guard layout.preset(named: name) != nil, name != preset else { return s }
            s.preset = name; s.page = 0
        case .presetNext, .presetPrevious:
            guard !names.isEmpty else { return s }
            let step = action == .presetNext ? 1 : names.count - 1
            s.preset = names[(index + step) % names.count]; s.page = 0
        case .pageNext: s.page = page + 1
        case .pagePrevious: s.page = page - 1
        case .spotlightNext, .spotlightPrevious:
            let people = room.participants.map(\.id)
            guard !people.isEmpty else { s.spotlight = nil; return s }
            if let current = spotlight, let i = people.firstIndex(of: current) {
                let step = action == .spotlightNext ? 1 : people.count - 1
                s.spotlight = people[(i + step) % people.count]
            } else {
                s.spotlight = action == .spotlightNext ? people.first : people.last
            }
        case .spotlightClear: s.spotlight = nil
        case .labelsToggle: s.labelsVisible.toggle()
        }
        return s
    }
}

/// Builds the `Scene` from (layout, room, view state): a pure function, cheap enough to run on
/// every roster change. Geometry that depends on the layout alone is worked out once, here.
public struct SceneBuilder: Sendable {
    public let layout: Layout
    private let seams: WallSeams

    public init(layout: Layout) {
        self.layout = layout
        self.seams = WallSeams(outputs: layout.outputs)
    }

    public func build(room: Room, state: ViewState) -> Scene {
        guard let preset = layout.preset(named: state.preset) ?? layout.presets.first else {
            return Scene(preset: state.preset, page: 0, pageCount: 1, outputs: emptyOutputs())
        }

        // Zones showing one participant claim them first; grids show everyone else.
        var single: [Int: Participant?] = [:]
        var shownAlone = Set<ParticipantID>()
        for (i, zone) in preset.zones.enumerated() {
            let who: Participant?
            switch zone.content {
            case .grid: continue
            case .teacher: who = room.teacher
            case .content: who = room.contentSharer
            case .participant(let id): who = room[id]
            case .spotlight: who = state.spotlight.flatMap { room[$0] } ?? room.activeSpeaker.flatMap { room[$0] }
            }
            single[i] = who
            if let who, zone.content != .content { shownAlone.insert(who.id) }
        }

        // Grid zones share one page index; each takes up to its capacity in zone order.
        let gridZones = preset.zones.indices.filter { if case .grid = preset.zones[$0].content { true } else { false } }
        let capacities = gridZones.map { capacity(of: preset.zones[$0]) }
        var pool: [[Participant]] = []
        var page = 0, pageCount = 1
        if !gridZones.isEmpty {
            let eligible = gridZones.map { i -> [Participant] in
                guard case .grid(let rule) = preset.zones[i].content else { return [] }
                return ordered(room.participants.filter { !shownAlone.contains($0.id) && (rule.roles?.contains($0.role) ?? true) }, rule.order)
            }
            // Everyone eligible for any grid, once, in the first grid's order.
            var seen = Set<ParticipantID>()
            let everyone = eligible.flatMap { $0 }.filter { seen.insert($0.id).inserted }
            let pageSize = capacities.contains(nil) ? nil : capacities.compactMap { $0 }.reduce(0, +)
            if let pageSize, pageSize > 0 {
                pageCount = max(1, (everyone.count + pageSize - 1) / pageSize)
                page = ((state.page % pageCount) + pageCount) % pageCount
            }
            let onPage = Set((pageSize.map { Array(everyone.dropFirst(page * $0).prefix($0)) } ?? everyone).map(\.id))
            var taken = Set<ParticipantID>()
            for (g, _) in gridZones.enumerated() {
                let mine = eligible[g].filter { onPage.contains($0.id) && !taken.contains($0.id) }
                let chosen = capacities[g].map { Array(mine.prefix($0)) } ?? mine
                taken.formUnion(chosen.map(\.id))
                pool.append(chosen)
            }
        }

        var tilesByOutput = Array(repeating: [Tile](), count: layout.outputs.count)
        var gridIndex = 0
        for (i, zone) in preset.zones.enumerated() {
            let style = zone.style.applied(to: layout.style)
            if case .grid = zone.content {
                let people = pool[gridIndex]; gridIndex += 1
                let cells = layout.outputs.compactMap { zone.rect.intersection($0.canvasRect) }
                let placement = Tiler.place(count: people.count, in: cells, aspect: style.aspect, gap: style.gap)
                for (person, rect) in zip(people, placement.tiles) {
                    guard let o = layout.outputs.firstIndex(where: { $0.canvasRect.contains(rect) }) else { continue }
                    let origin = layout.outputs[o].position
                    tilesByOutput[o].append(tile(for: person, stream: .camera, zone: zone, style: style, state: state, room: room,
                                                 rect: rect.offsetBy(dx: -origin.x, dy: -origin.y)))
                }
            } else {
                let who = single[i] ?? nil
                let stream: StreamKind = zone.content == .content ? .screen : .camera
                let pieces = seams.pieces(of: zone.rect)
                let labelCorner = labelAnchor(zone.rect, style.labels.position)
                for piece in pieces {
                    let o = piece.output
                    let origin = layout.outputs[o].position
                    var t: Tile
                    let rect = piece.canvasRect.offsetBy(dx: -origin.x, dy: -origin.y)
                    if let who {
                        t = tile(for: who, stream: stream, zone: zone, style: style, state: state, room: room, rect: rect)
                    } else {
                        t = Tile(participant: nil, stream: stream, zone: zone.id, rect: rect, fit: style.fit,
                                 background: style.background, border: border(style), slate: slate(for: zone.content))
                    }
                    t.contentSize = piece.contentSize
                    t.crop = piece.crop
                    // A picture split across displays carries its name once, at the label's corner.
                    if !piece.canvasRect.containsPoint(labelCorner) { t.label = nil }
                    tilesByOutput[o].append(t)
                }
            }
        }

        let outputs = layout.outputs.enumerated().map { o, cfg in
            OutputScene(id: cfg.id, size: cfg.logicalSize, rotation: cfg.rotation, background: layout.style.background,
                        tiles: tilesByOutput[o])
        }
        return Scene(preset: preset.name, page: page, pageCount: pageCount, outputs: outputs)
    }

    /// How many tiles a grid zone shows per page; nil when everyone fits (tiles shrink instead).
    public func capacity(of zone: Zone) -> Int? {
        guard case .grid(let rule) = zone.content else { return 1 }
        let style = zone.style.applied(to: layout.style)
        var cap = rule.maxTiles
        if let minHeight = rule.minTileHeight {
            let cells = layout.outputs.compactMap { zone.rect.intersection($0.canvasRect) }
            let fit = max(1, Tiler.maxCount(cells: cells, aspect: style.aspect, gap: style.gap, minHeight: minHeight))
            cap = min(cap ?? fit, fit)
        }
        return cap
    }

    private func emptyOutputs() -> [OutputScene] {
        layout.outputs.map { OutputScene(id: $0.id, size: $0.logicalSize, rotation: $0.rotation, background: layout.style.background, tiles: []) }
    }

    private func ordered(_ people: [Participant], _ order: GridOrder) -> [Participant] {
        switch order {
        case .join: return people
        case .name:
            return people.sorted {
                let c = $0.name.localizedStandardCompareFallback($1.name)
                return c != 0 ? c < 0 : $0.joinOrder < $1.joinOrder
            }
        case .handsFirst:
            let up = people.filter(\.handRaised).sorted { $0.handRaisedOrder! < $1.handRaisedOrder! }
            return up + people.filter { !$0.handRaised }
        }
    }

    private func border(_ style: Style) -> Border? { style.border.width > 0 ? style.border : nil }

    private func tile(for p: Participant, stream: StreamKind, zone: Zone, style: Style, state: ViewState, room: Room, rect: Rect) -> Tile {
        var highlight: Highlight?
        if style.highlight.width > 0 && stream == .camera {
            if p.handRaised {
                highlight = Highlight(reason: .handRaised, width: style.highlight.width, color: style.highlight.hand)
            } else if room.activeSpeaker == p.id {
                highlight = Highlight(reason: .activeSpeaker, width: style.highlight.width, color: style.highlight.speaker)
            }
        }
        let label = style.labels.show && state.labelsVisible
            ? Label(text: p.name, position: style.labels.position, size: style.labels.size) : nil
        return Tile(participant: p.id, stream: stream, zone: zone.id, rect: rect, fit: style.fit, background: style.background,
                    border: border(style), label: label, highlight: highlight)
    }

    private func slate(for content: ZoneContent) -> String {
        switch content {
        case .teacher: "No teacher connected"
        case .content: "Nothing shared"
        case .participant(let id): "\(id) is not in the room"
        case .spotlight: "No one in the spotlight"
        case .grid: ""
        }
    }

    private func labelAnchor(_ r: Rect, _ p: LabelPosition) -> Point {
        switch p {
        case .topLeft: Point(x: r.minX, y: r.minY)
        case .topRight: Point(x: r.maxX - 1, y: r.minY)
        case .bottomLeft: Point(x: r.minX, y: r.maxY - 1)
        case .bottomRight: Point(x: r.maxX - 1, y: r.maxY - 1)
        }
    }
}

extension Rect {
    func containsPoint(_ p: Point) -> Bool { p.x >= minX && p.x < maxX && p.y >= minY && p.y < maxY }
}

extension String {
    /// Case- and accent-insensitive order for names, without Foundation's locale machinery.
    func localizedStandardCompareFallback(_ other: String) -> Int {
        let a = self.lowercased(), b = other.lowercased()
        return a == b ? 0 : (a < b ? -1 : 1)
    }
}
