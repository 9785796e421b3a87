import ArgumentParser
import Foundation
import Logging
import TesseraCore
import TesseraKiosk
import TesseraLayout
import TesseraOutput
import TesseraRender

/// The rendering and output part's subcommands (`preview`, `outputs`), listed in `tessera --help`.
let renderCommands: [any ParsableCommand.Type] = [Preview.self, Outputs.self]

extension RendererKind: ExpressibleByArgument {}

/// Exit codes: 0 written; 1 invalid layout or a rendering failure; 64 bad command line.
struct Preview: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render each output of a layout to DIR/<output-id>.png with numbered placeholder participants.",
        discussion: """
            Placeholder tiles show each participant's number in a colour of its own, with the name label the \
            layout asks for. The PNGs are what a viewer sees: rotated outputs are turned upright.
            """)

    @Argument(help: "The layout file.") var layout: String
    @Option(help: "How many synthetic participants (p1…pN) are in the room.") var participants: Int = 16
    @Option(help: "The preset to show (default: the layout's defaultPreset).") var preset: String?
    @Option(help: "The page of the grids (0-based; wraps).") var page: Int = 0
    @Option(help: "The renderer: cpu or gles (headless EGL).") var renderer: RendererKind = .cpu
    @Option(help: "Directory for the PNG files (created if missing).") var out: String
    @Option(help: "Participants shown as offline (comma-separated ids, e.g. p3,p7), to check the slate.")
    var offline: String = ""

    func validate() throws {
        guard participants >= 0 && participants <= 10_000 else { throw ValidationError("--participants must be between 0 and 10000") }
    }

    func run() throws {
        let (layout, room, scene) = try PlanRoom.scene(layoutPath: self.layout, participants: participants,
                                                       preset: preset, page: page, teacher: nil)

        let specs = layout.outputs.map {
            HeadlessBackend.OutputSpec(id: $0.id, panelSize: Size(width: $0.mode.width, height: $0.mode.height), rotation: $0.rotation)
        }
        let setup: RenderSetup<HeadlessBackend>
        do {
            setup = try OutputFactory.headless(specs, refresh: nil, renderer: renderer)
        } catch {
            printError("preview: cannot start the \(renderer.rawValue) renderer: \(error)")
            throw ExitCode(1)
        }
        defer { setup.close() }
        let offlineIDs = Set(offline.split(separator: ",").map { ParticipantID(String($0)) })
        let table = placeholderSources(room: room, scene: scene, text: setup.text, offline: offlineIDs)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        do {
            // Outputs are drawn one after another here; their PNGs are encoded on the other cores
            // meanwhile, a few at a time (PNGWriter).
            let writer = PNGWriter(inFlight: ProcessInfo.processInfo.activeProcessorCount)
            var lines: [String] = []
            for (output, outputScene) in zip(setup.backend.headlessOutputs, scene.outputs) {
                try output.render(outputScene, with: setup.renderer, sources: table)
                let path = (out as NSString).appendingPathComponent("\(output.id).png")
                writer.write(try output.snapshot(readingWith: setup.renderer), to: path)
                lines.append("\(path): \(outputScene.size.width)x\(outputScene.size.height), \(plural(outputScene.tiles.count, "tile"))"
                             + (output.rotation == .none ? "" : ", panel rotated \(output.rotation.rawValue)° (PNG upright)"))
            }
            try writer.finish()
            for line in lines { print(line) }
        } catch {
            printError("preview: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Numbered placeholder pictures for everyone the scene shows (camera and screen streams alike).
func placeholderSources(room: Room, scene: Scene, text: TextCache, offline: Set<ParticipantID> = []) -> FrameSourceTable {
    var table: [StreamID: any FrameSource] = [:]
    for (n, person) in room.participants.enumerated() where scene.participants.contains(person.id) {
        let frame = Placeholder.participant(number: n + 1, text: text)
        let source = StillFrameSource(frame, state: offline.contains(person.id) ? .offline : .playing)
        table[StreamID(person.id, .camera)] = source
        table[StreamID(person.id, .screen)] = source
    }
    return FrameSourceTable(table)
}

struct Outputs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List DRM connectors: status, modes, preferred mode, and which layout output each would drive.",
        discussion: """
            With --layout, each output is planned as `tessera run --backend drm` would light it: the connector \
            (by name, else the next connected one), the layout's exact mode, a CRTC and a primary plane. \
            Needs no DRM master: it works beside a running compositor.
            """)
    @Option(help: "A layout file, to show which output each connector would drive.") var layout: String?
    @Flag(help: "List every mode (default: the first 12 per connector).") var allModes = false
    @Option(help: ArgumentHelp("Light the layout on the displays for N frames with numbered placeholders, then exit.",
                               discussion: "Needs DRM master: run it on a VT, or with no compositor running."))
    var frames: Int?
    @Option(help: "The renderer for --frames: cpu (dumb buffers) or gles (GBM surfaces).") var renderer: RendererKind = .cpu
    @Option(help: "The DRM card for --frames (default: the first with a connected display).") var device: String?

    func validate() throws {
        if let frames {
            guard frames > 0 && frames <= 100_000 else { throw ValidationError("--frames must be between 1 and 100000") }
            guard layout != nil else { throw ValidationError("--frames needs --layout") }
        }
    }

    func run() throws {
        if let frames, let path = layout {
            try light(layout: try loadOrExplain(path), frames: frames)
            return
        }
        let cards = DRMDevices.cards()
        guard !cards.isEmpty else {
            print("no DRM device: /dev/dri has no card* node (no GPU or display driver on this machine); "
                  + "use `tessera preview LAYOUT --out DIR` to check a layout headless")
            return
        }
        let layout = try self.layout.map { try loadOrExplain($0) }
        let specs = (layout?.outputs ?? []).map {
            DRMOutputSpec(id: $0.id, connector: $0.connector, width: $0.mode.width, height: $0.mode.height,
                          refresh: $0.mode.refresh, rotation: $0.rotation)
        }
        for path in cards {
            let card: DRMCard
            let resources: DRMResources
            do {
                card = try DRMCard(path: path)
                resources = try card.resources()
            } catch {
                printError("\(path): \(error)")
                continue
            }
            print("\(path) (\(card.driverName)): \(plural(resources.connectors.count, "connector")), "
                  + "\(plural(resources.crtcs.count, "CRTC")), \(plural(resources.planes.filter { $0.kind == .primary }.count, "primary plane"))")
            let plan = DRMOutputPlan.make(specs, resources: resources, format: DRMDevices.xrgb8888)
            for c in resources.connectors {
                let drives = plan.placements.filter { $0.connectorID == c.id }
                    .map { " → output \($0.outputID) at \($0.mode) (CRTC \($0.crtcID), plane \($0.planeID))" }.joined()
                let preferred = c.preferredMode.map { ", prefers \($0.width)x\($0.height)@\(String(format: "%.2f", $0.refresh))" } ?? ""
                print("  \(c.name) [\(c.connected ? "connected" : "disconnected")]\(c.connected ? ", \(plural(c.modes.count, "mode"))" : "")\(preferred)\(drives)")
                let shown = allModes ? c.modes[...] : c.modes.prefix(12)
                for m in shown { print("    \(m)") }
                if shown.count < c.modes.count { print("    … \(c.modes.count - shown.count) more (--all-modes)") }
            }
            for s in specs where plan.problems[s.id] != nil {
                print("  output \(s.id) (\(s.connector), \(s.width)x\(s.height)): dark — \(plan.problems[s.id]!)")
            }
        }
    }

    /// `--frames`: what `tessera run --backend drm` does with the displays, without media or signaling.
    private func light(layout: Layout, frames: Int) throws {
        let specs = layout.outputs.map {
            DRMOutputSpec(id: $0.id, connector: $0.connector, width: $0.mode.width, height: $0.mode.height,
                          refresh: $0.mode.refresh, rotation: $0.rotation)
        }
        let state = ViewState(layout: layout)
        let room = PlanRoom.make(count: 16, layout: layout, preset: state.preset, teacher: nil)
        let wall = SceneBuilder(layout: layout).build(room: room, state: state)
        do {
            // The backend's events (modes lit, hot-plug, VT) on standard output, with the report.
            let logger = Logger(label: "drm") { RedactingLogHandler(StreamLogHandler.standardOutput(label: $0)) }
            let setup = try OutputFactory.drm(specs, device: device, renderer: renderer, logger: logger)
            let backend = setup.backend
            defer { setup.close() }
            print("renderer: \(setup.rendererName)")
            let sources = placeholderSources(room: room, scene: wall, text: setup.text)
            print("\(backend.devicePath ?? "?"): \(backend.usesAtomic ? "atomic" : "legacy") modesetting, \(plural(backend.outputs.count, "output")) lit")
            for (id, why) in backend.problems.sorted(by: { $0.key < $1.key }) { print("  output \(id): dark — \(why)") }
            let clock = ContinuousClock()
            let began = clock.now
            for _ in 0..<frames {
                if try backend.handleEvents() { print("drm: outputs now \(backend.drmOutputs.map { "\($0.id)@\($0.connectorName)" })") }
                for output in backend.drmOutputs {
                    guard let scene = wall.outputs.first(where: { $0.id == output.id }) else { continue }
                    try output.waitForFrame()
                    try output.render(scene, with: setup.renderer, sources: sources)
                }
            }
            for output in backend.drmOutputs { try output.waitForFrame() }
            let seconds = Double((clock.now - began).components.seconds) + Double((clock.now - began).components.attoseconds) / 1e18
            for o in backend.drmOutputs {
                print("  output \(o.id) on \(o.connectorName) at \(o.placement.mode), CRTC \(o.placement.crtcID): "
                      + "\(o.framesPresented) frames, \(o.flipsCompleted) flips, \(String(format: "%.1f", Double(o.framesPresented) / max(seconds, 0.001))) fps")
            }
        } catch {
            printError("outputs --frames: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `tessera bench render`: the renderers on the worst case of a big wall — every one of N tiles
/// gets a new frame each time — as the RenderBenchmark test measures it, in whatever build this is.
struct RenderBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "render",
        abstract: "Time one frame of N 320x180 placeholder streams on a 3840x2160 output, every tile with a new frame.")

    @Option(help: "Tiles (participants).") var tiles: Int = 250
    @Option(help: "Frames to time per renderer.") var frames: Int = 20
    @Option(parsing: .upToNextOption, help: "Renderers to time (cpu, gles).") var renderer: [RendererKind] = [.cpu, .gles]
    @Option(help: "Source picture size, WxH.") var source: String = "320x180"
    @Option(help: "Tile size, WxH (default: the grid cell less an 8 px gap).") var tile: String?
    @Option(help: "CPU renderer worker threads (default: the machine's cores).") var workers: Int?

    static func size(_ text: String, _ option: String) throws -> Size {
        let parts = text.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, (2...8192).contains(parts[0]), (2...8192).contains(parts[1]) else {
            throw ValidationError("--\(option) must be WxH with sides from 2 to 8192, got \(text)")
        }
        return Size(width: parts[0], height: parts[1])
    }

    func validate() throws {
        guard (1...1024).contains(tiles) else { throw ValidationError("--tiles must be between 1 and 1024") }
        guard (1...1000).contains(frames) else { throw ValidationError("--frames must be between 1 and 1000") }
        _ = try Self.size(source, "source")
        if let tile { _ = try Self.size(tile, "tile") }
        if let workers, !(1...256).contains(workers) { throw ValidationError("--workers must be between 1 and 256") }
    }

    func run() throws {
        let size = Size(width: 3840, height: 2160)
        let columns = Int(Double(tiles).squareRoot().rounded(.up))
        let rows = (tiles + columns - 1) / columns
        let cellW = size.width / columns, cellH = size.height / rows
        let tileSize = try tile.map { try Self.size($0, "tile") } ?? Size(width: cellW - 8, height: cellH - 8)
        guard tileSize.width <= cellW, tileSize.height <= cellH else {
            throw ValidationError("--tile \(tileSize.width)x\(tileSize.height) does not fit a grid cell of \(cellW)x\(cellH) for \(tiles) tiles")
        }
        let sourceSize = try Self.size(source, "source")
        let fonts = try FontStack()
        let text = TextCache(fonts: fonts)
        let pictures = (0..<tiles).map { Placeholder.participant(number: $0 + 1, size: sourceSize, text: text) }
        let sources = pictures.map { StillFrameSource($0) }
        let scene = OutputScene(id: "wall", size: size, rotation: .none, background: Color(red: 16, green: 20, blue: 24), tiles: (0..<tiles).map { i in
            Tile(participant: ParticipantID("p\(i)"), zone: "grid",
                 rect: Rect(x: (i % columns) * cellW, y: (i / columns) * cellH, width: tileSize.width, height: tileSize.height), fit: .cover,
                 background: Color(red: 32, green: 40, blue: 48), label: Label(text: "Participant \(i + 1)", position: .bottomLeft, size: 14))
        })
        let table = FrameSourceTable(Dictionary(uniqueKeysWithValues: sources.enumerated().map { (StreamID(ParticipantID("p\($0)")), $1 as any FrameSource) }))
        let copies = pictures.map { f in (0..<3).map { p in f.withPlane(p) { span in span.withUnsafeBytes { Array($0) } } } }
        func deliverAll(_ n: Int) {
            for (i, s) in sources.enumerated() { s.deliver(PlanarFrame(size: pictures[i].size, format: .yuv420p, planes: copies[(i + n) % tiles])) }
        }
        func ms(_ d: Duration) -> Double { Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000 }
        print("\(tiles) tiles of \(sourceSize.width)x\(sourceSize.height) yuv420p → \(tileSize.width)x\(tileSize.height) on 3840x2160, every tile with a new frame, \(frames) frames")
        for kind in renderer {
            let setup = try OutputFactory.headless([.init(id: scene.id, panelSize: size)], refresh: nil, renderer: kind,
                                                   workers: workers ?? ProcessInfo.processInfo.activeProcessorCount, fonts: fonts)
            defer { setup.close() }
            let drawer = setup.renderer, name = setup.rendererName
            let output = setup.backend.headlessOutputs[0]
            // Times the draw only (as the RenderBenchmark test does): the headless commit costs nothing.
            guard let target = try output.nextBuffer() else { throw ExitCode(1) }  // headless always has one
            func finish() { drawer.finish() }
            _ = try drawer.draw(scene, sources: table, into: target); finish()
            let clock = ContinuousClock()
            var samples: [Double] = []
            for n in 0..<frames {
                deliverAll(n + 1)
                samples.append(ms(try clock.measure { _ = try drawer.draw(scene, sources: table, into: target); finish() }))
            }
            samples.sort()
            let idle = ms(try clock.measure { _ = try drawer.draw(scene, sources: table, into: target); finish() })
            let median = samples[samples.count / 2]
            print("  \(name): median \(String(format: "%.1f", median)) ms (\(String(format: "%.3f", median / Double(tiles))) ms a tile), "
                  + "min \(String(format: "%.1f", samples[0])) ms; no new frame: \(String(format: "%.1f", idle)) ms")
        }
    }
}
