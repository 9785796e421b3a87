import Testing
import TesseraCore
@testable import TesseraLayout

@Suite struct SceneTests {
    /// One 1920x1080 output; presets built per test.
    static func layout(_ zones: [Zone], style: Style = .default, outputs: [OutputConfig]? = nil) -> Layout {
        Layout(outputs: outputs ?? [OutputConfig(id: "a", mode: Mode(width: 1920, height: 1080), position: Point(x: 0, y: 0))],
               style: style, presets: [Preset(name: "main", zones: zones)])
    }

    static func room(_ n: Int, teacher: Int? = nil, sharer: Int? = nil, hands: [Int: Int] = [:], speaker: Int? = nil) -> Room {
        var people = Room.synthetic(count: n).participants
        if let teacher { people[teacher - 1].role = .teacher }
        if let sharer { people[sharer - 1].sharesScreen = true }
        for (who, order) in hands { people[who - 1].handRaisedOrder = order }
        return Room(participants: people, activeSpeaker: speaker.map { ParticipantID("p\($0)") })
    }

    static let full = Rect(x: 0, y: 0, width: 1920, height: 1080)

    @Test func planOfTheLectureTheatreShowsEveryoneOnOnePage() throws {
        let layout = try loadExample("lecture-theatre.json")
        var people = Room.synthetic(count: 250).participants
        people[0].role = .teacher
        let scene = SceneBuilder(layout: layout).build(room: Room(participants: people), state: ViewState(layout: layout))
        #expect(scene.preset == "lecture")
        #expect(scene.pageCount == 1)
        #expect(Set(scene.participants) == Set(people.map(\.id)), "all 250 shown")
        for (cfg, out) in zip(layout.outputs, scene.outputs) {
            let bounds = Rect(x: 0, y: 0, width: out.size.width, height: out.size.height)
            #expect(out.size == cfg.logicalSize)
            for (i, t) in out.tiles.enumerated() {
                #expect(bounds.contains(t.rect), "\(t.rect) inside output \(out.id)")
                for u in out.tiles[(i + 1)...] { #expect(!t.rect.intersects(u.rect), "\(t.rect) and \(u.rect) on \(out.id)") }
            }
        }
        // The students' grid: 249 equal tiles over the two middle outputs, none on the outer ones.
        let grid = scene.outputs.flatMap(\.tiles).filter { $0.zone == "students" }
        #expect(grid.count == 249)
        #expect(Set(grid.map(\.rect.size)) == [Size(width: 312, height: 175)])
        #expect(scene.outputs.map { $0.tiles.filter { $0.zone == "students" }.count } == [0, 125, 124, 0])
    }

    @Test func everyExamplePresetFitsItsOutputsForManyRoomSizes() throws {
        for name in exampleLayouts {
            let layout = try loadExample(name)
            let builder = SceneBuilder(layout: layout)
            for preset in layout.presets {
                for n in [0, 1, 2, 7, 49, 64, 250] {
                    let room = Self.room(n, teacher: n > 0 ? 1 : nil, sharer: n > 1 ? 2 : nil)
                    var seen: [ParticipantID: Int] = [:]
                    let first = builder.build(room: room, state: ViewState(preset: preset.name))
                    for page in 0..<first.pageCount {
                        let scene = builder.build(room: room, state: ViewState(preset: preset.name, page: page))
                        #expect(scene.page == page)
                        for out in scene.outputs {
                            let bounds = Rect(x: 0, y: 0, width: out.size.width, height: out.size.height)
                            let grid = out.tiles.filter { $0.stream == .camera && $0.contentSize == $0.rect.size }
                            for t in out.tiles {
                                #expect(bounds.contains(t.rect), "\(name) \(preset.name) n=\(n): \(t.rect) inside \(out.id)")
                            }
                            // Within one zone tiles never overlap (zones themselves may, picture in picture).
                            for zone in Set(grid.map(\.zone)) {
                                let rects = grid.filter { $0.zone == zone }.map(\.rect)
                                for (i, r) in rects.enumerated() { for s in rects[(i + 1)...] { #expect(!r.intersects(s)) } }
                            }
                        }
                        // In the grids nobody appears twice, on any page.
                        let gridIDs = Set(preset.zones.filter { if case .grid = $0.content { true } else { false } }.map(\.id))
                        for t in scene.outputs.flatMap(\.tiles) where gridIDs.contains(t.zone) {
                            if let p = t.participant { seen[p, default: 0] += 1 }
                        }
                        for p in scene.participants where seen[p] == nil { seen[p] = 0 }
                    }
                    #expect(seen.values.allSatisfy { $0 <= 1 }, "\(name) \(preset.name) n=\(n): someone is in the grids twice")
                    // Over all pages every participant appears.
                    #expect(Set(seen.keys) == Set(room.participants.map(\.id)) || n == 0,
                            "\(name) \(preset.name) n=\(n): \(room.participants.count - seen.count) never shown")
                }
            }
        }
    }

    @Test func singleZonesClaimTheirParticipantAndGridsShowTheRest() {
        let layout = Self.layout([
            Zone(id: "t", rect: Rect(x: 0, y: 0, width: 960, height: 540), content: .teacher),
            Zone(id: "c", rect: Rect(x: 960, y: 0, width: 960, height: 540), content: .content),
            Zone(id: "g", rect: Rect(x: 0, y: 540, width: 1920, height: 540), content: .grid(GridRule())),
        ])
        let scene = SceneBuilder(layout: layout).build(room: Self.room(5, teacher: 3, sharer: 4), state: ViewState(preset: "main"))
        let tiles = scene.outputs[0].tiles
        #expect(tiles.first { $0.zone == "t" }?.participant == "p3")
        #expect(tiles.first { $0.zone == "c" }?.participant == "p4")
        #expect(tiles.first { $0.zone == "c" }?.stream == .screen)
        #expect(tiles.filter { $0.zone == "g" }.compactMap(\.participant) == ["p1", "p2", "p4", "p5"],
                "the teacher is not repeated; the sharer's camera still is")
    }

    @Test func emptyZonesGetASlate() {
        let layout = Self.layout([
            Zone(id: "t", rect: Rect(x: 0, y: 0, width: 960, height: 1080), content: .teacher),
            Zone(id: "s", rect: Rect(x: 960, y: 0, width: 960, height: 1080), content: .spotlight),
        ])
        let tiles = SceneBuilder(layout: layout).build(room: Self.room(2), state: ViewState(preset: "main")).outputs[0].tiles
        #expect(tiles.map(\.participant) == [nil, nil])
        #expect(tiles.map(\.slate) == ["No teacher connected", "No one in the spotlight"])
    }

    @Test func spotlightFollowsTheTeacherElseTheActiveSpeaker() {
        let layout = Self.layout([Zone(id: "s", rect: Self.full, content: .spotlight)])
        let builder = SceneBuilder(layout: layout)
        let room = Self.room(4, speaker: 2)
        #expect(builder.build(room: room, state: ViewState(preset: "main")).outputs[0].tiles[0].participant == "p2")
        var state = ViewState(preset: "main")
        state = state.applying(.spotlightNext, layout: layout, room: room)
        #expect(state.spotlight == "p1")
        state = state.applying(.spotlightPrevious, layout: layout, room: room)
        #expect(state.spotlight == "p4", "wraps backwards")
        #expect(builder.build(room: room, state: state).outputs[0].tiles[0].participant == "p4")
        state = state.applying(.spotlightClear, layout: layout, room: room)
        #expect(builder.build(room: room, state: state).outputs[0].tiles[0].participant == "p2")
    }

    @Test func orderingAndHighlights() {
        let layout = Self.layout([Zone(id: "g", rect: Self.full, content: .grid(GridRule(order: .handsFirst)))])
        let room = Self.room(5, hands: [4: 2, 2: 1, 5: 3], speaker: 4)
        let tiles = SceneBuilder(layout: layout).build(room: room, state: ViewState(preset: "main")).outputs[0].tiles
        #expect(tiles.compactMap(\.participant) == ["p2", "p4", "p5", "p1", "p3"], "hands in the order they went up, then join order")
        #expect(tiles.map { $0.highlight?.reason } == [.handRaised, .handRaised, .handRaised, nil, nil], "a raised hand wins over speaking")
        let quiet = Self.room(3, speaker: 3)
        let t2 = SceneBuilder(layout: layout).build(room: quiet, state: ViewState(preset: "main")).outputs[0].tiles
        #expect(t2.map { $0.highlight?.reason } == [nil, nil, .activeSpeaker])
        #expect(t2[2].highlight?.color == Style.default.highlight.speaker)

        var people = Room.synthetic(count: 3).participants
        people[0].name = "zoë"; people[1].name = "Anna"; people[2].name = "bert"
        let byName = Self.layout([Zone(id: "g", rect: Self.full, content: .grid(GridRule(order: .name)))])
        let named = SceneBuilder(layout: byName).build(room: Room(participants: people), state: ViewState(preset: "main"))
        #expect(named.outputs[0].tiles.compactMap { $0.label?.text } == ["Anna", "bert", "zoë"])
    }

    @Test func pagingWrapsAndCoversEveryoneOnce() {
        let layout = Self.layout([Zone(id: "g", rect: Self.full, content: .grid(GridRule(maxTiles: 10)))])
        let builder = SceneBuilder(layout: layout)
        let room = Self.room(25)
        var shown: [ParticipantID] = []
        for page in 0..<3 {
            let scene = builder.build(room: room, state: ViewState(preset: "main", page: page))
            #expect(scene.pageCount == 3)
            shown += scene.participants
        }
        #expect(shown == room.participants.map(\.id))
        #expect(builder.build(room: room, state: ViewState(preset: "main", page: 3)).participants.first == "p1", "page 3 wraps to 0")
        #expect(builder.build(room: room, state: ViewState(preset: "main", page: -1)).participants.first == "p21", "page -1 is the last")
        let state = ViewState(preset: "main").applying(.pagePrevious, layout: layout, room: room)
        #expect(builder.build(room: room, state: state).page == 2)
    }

    @Test func minTileHeightSetsTheCapacity() {
        // 1920x1080, 16:9, gap 8: tiles 270 high are 480 wide → 3 across ((1920+8)/488), 3 down ((1080+8)/278).
        let zone = Zone(id: "g", rect: Self.full, content: .grid(GridRule(minTileHeight: 270)))
        let builder = SceneBuilder(layout: Self.layout([zone]))
        #expect(builder.capacity(of: zone) == 9)
        let scene = builder.build(room: Self.room(20), state: ViewState(preset: "main"))
        #expect(scene.pageCount == 3)
        #expect(scene.outputs[0].tiles.allSatisfy { $0.rect.height >= 270 })
    }

    @Test func labelsFollowStyleAndToggle() {
        var style = Style.default
        style.labels.position = .topRight
        let layout = Self.layout([Zone(id: "g", rect: Self.full, content: .grid(GridRule()))], style: style)
        let builder = SceneBuilder(layout: layout)
        let room = Self.room(2)
        let on = builder.build(room: room, state: ViewState(preset: "main")).outputs[0].tiles
        #expect(on.map(\.label) == [Label(text: "Participant 1", position: .topRight, size: 24), Label(text: "Participant 2", position: .topRight, size: 24)])
        let off = ViewState(preset: "main").applying(.labelsToggle, layout: layout, room: room)
        #expect(builder.build(room: room, state: off).outputs[0].tiles.allSatisfy { $0.label == nil })
    }

    @Test func aPictureAcrossASeamHidesTheMullion() throws {
        // Two 1000 px wide displays of 500 mm (0.5 mm/px) with 5 mm bezels each side: 10 mm = 20 px hidden.
        let outputs = [
            OutputConfig(id: "l", mode: Mode(width: 1000, height: 500), position: Point(x: 0, y: 0),
                         physical: PhysicalSize(width: 500, height: 250), bezel: Bezel(left: 5, right: 5, top: 5, bottom: 5)),
            OutputConfig(id: "r", mode: Mode(width: 1000, height: 500), position: Point(x: 1000, y: 0),
                         physical: PhysicalSize(width: 500, height: 250), bezel: Bezel(left: 5, right: 5, top: 5, bottom: 5)),
        ]
        let layout = Self.layout([Zone(id: "t", rect: Rect(x: 500, y: 0, width: 1000, height: 500), content: .teacher)], outputs: outputs)
        let scene = SceneBuilder(layout: layout).build(room: Self.room(1, teacher: 1), state: ViewState(preset: "main"))
        let left = try #require(scene.outputs[0].tiles.first), right = try #require(scene.outputs[1].tiles.first)
        #expect(left.rect == Rect(x: 500, y: 0, width: 500, height: 500))
        #expect(right.rect == Rect(x: 0, y: 0, width: 500, height: 500))
        #expect(left.contentSize == Size(width: 1020, height: 500), "the picture runs on behind the bezels")
        #expect(left.crop == UnitRect(x: 0, y: 0, width: 500.0 / 1020, height: 1))
        #expect(right.crop == UnitRect(x: 520.0 / 1020, y: 0, width: 500.0 / 1020, height: 1))
        #expect(left.label != nil && right.label == nil, "the name is shown once, at the label's corner (bottom-left)")

        // Without physical sizes the picture is simply cut at the seam.
        let plain = outputs.map { var o = $0; o.physical = nil; o.bezel = .none; return o }
        let cut = SceneBuilder(layout: Self.layout(layout.presets[0].zones, outputs: plain))
            .build(room: Self.room(1, teacher: 1), state: ViewState(preset: "main"))
        #expect(cut.outputs[1].tiles[0].crop == UnitRect(x: 0.5, y: 0, width: 0.5, height: 1))
    }

    @Test func rotatedOutputsUseTheirTurnedSize() {
        let outputs = [OutputConfig(id: "p", mode: Mode(width: 1920, height: 1080), position: Point(x: 0, y: 0), rotation: .quarter)]
        let layout = Self.layout([Zone(id: "g", rect: Rect(x: 0, y: 0, width: 1080, height: 1920), content: .grid(GridRule()))], outputs: outputs)
        let scene = SceneBuilder(layout: layout).build(room: Self.room(4), state: ViewState(preset: "main"))
        #expect(scene.outputs[0].size == Size(width: 1080, height: 1920))
        #expect(scene.outputs[0].rotation == .quarter)
        #expect(scene.outputs[0].tiles.count == 4)
        #expect(scene.outputs[0].tiles.allSatisfy { Rect(x: 0, y: 0, width: 1080, height: 1920).contains($0.rect) })
    }

    @Test func presetActions() throws {
        let layout = try loadExample("lecture-theatre.json")
        let room = Self.room(3)
        var state = ViewState(layout: layout)
        state.page = 2
        let names = layout.presets.map(\.name)
        let next = state.applying(.presetNext, layout: layout, room: room)
        #expect(next.preset == names[1] && next.page == 0, "a new preset starts at its first page")
        #expect(state.applying(.presetPrevious, layout: layout, room: room).preset == names.last)
        #expect(state.applying(.selectPreset("gallery"), layout: layout, room: room).preset == "gallery")
        #expect(state.applying(.selectPreset("nope"), layout: layout, room: room) == state, "an unknown preset changes nothing")
        for shortcut in layout.shortcuts {
            if case .selectPreset(let p) = shortcut.action { #expect(names.contains(p)) }
        }
    }
}
