import ArgumentParser
import Foundation
import TesseraCore
import TesseraFFmpeg
import TesseraKiosk
import TesseraLayout
import TesseraMedia

@main
struct Tessera: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "A video-wall compositor for Linux kiosks.",
        discussion: "Start with `tessera validate LAYOUT` and `tessera plan LAYOUT --participants N`.",
        subcommands: kioskCommands + [Validate.self, Plan.self] + mediaCommands + renderCommands + [Bench.self, Version.self])

    /// ArgumentParser's entry point, after `run`'s options from the environment (`EnvironmentOptions`).
    static func main() {
        let applied = EnvironmentOptions.apply(to: Array(CommandLine.arguments.dropFirst()),
                                               environment: ProcessInfo.processInfo.environment)
        var command: any ParsableCommand
        do { command = try parseAsRoot(applied.arguments) } catch {
            if !applied.variables.isEmpty, exitCode(for: error) != .success {
                printError("tessera run: options from the environment: \(applied.variables.joined(separator: ", ")) "
                           + "(set in /etc/tessera/tessera.env under systemd; see docs/kiosk.md)")
            }
            exit(withError: error)
        }
        if !applied.variables.isEmpty {
            printError("tessera run: options from the environment: \(applied.variables.joined(separator: ", "))")
        }
        do { try command.run() } catch { exit(withError: error) }
    }
}

/// Exit codes: 0 valid (warnings included); 1 a layout is invalid; 64 bad command line (ArgumentParser's usage code).
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check layout files; print every problem as FILE:LINE:COLUMN: JSON.PATH: message.")

    @Argument(help: "Layout files to check.") var files: [String]
    @Flag(name: .shortAndLong, help: "Print nothing for valid files.") var quiet = false

    func run() throws {
        var failed = 0
        for file in files {
            if LayoutLoader.isJSONSchema(path: file) {
                if !quiet { print("\(file): skipped (a JSON Schema, not a layout)") }
                continue
            }
            let report = LayoutFiles.read(file)
            // Warnings (zones nobody can see) do not fail the check: the file works as written.
            for line in report.warningLines { printError(line) }
            switch report.result {
            case .success(let layout):
                if !quiet {
                    let warned = report.warnings.isEmpty ? "" : ", \(plural(report.warnings.count, "warning"))"
                    print("\(file): ok (\(plural(layout.outputs.count, "output")), \(plural(layout.presets.count, "preset")), "
                          + "\(plural(layout.shortcuts.count, "shortcut"))\(warned))")
                }
            case .failure(let error):
                failed += 1
                for line in error.lines { printError(line) }
                printError("\(file): \(error.diagnostics.count) problem\(error.diagnostics.count == 1 ? "" : "s"); see docs/layouts.md")
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print where N synthetic participants appear on each output.",
        discussion: "Coordinates are in each output's own pixels, as a viewer sees it (after rotation).")

    @Argument(help: "The layout file.") var layout: String
    @Option(help: "How many synthetic participants (p1…pN) are in the room.") var participants: Int = 16
    @Option(help: "The preset to show (default: the layout's defaultPreset).") var preset: String?
    @Option(help: "The page of the grids (0-based; wraps).") var page: Int = 0
    @Option(help: "Participant id of the teacher (default: none; p1 when the preset has a teacher zone).") var teacher: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard participants >= 0 && participants <= 10_000 else {
            throw ValidationError("--participants must be between 0 and 10000")
        }
    }

    func run() throws {
        let (layout, room, scene) = try PlanRoom.scene(layoutPath: self.layout, participants: participants,
                                                       preset: preset, page: page, teacher: teacher)
        if json {
            print(try PlanJSON(layout: layout, room: room, scene: scene).encoded())
        } else {
            printText(layout: layout, room: room, scene: scene)
        }
    }

    private func printText(layout: Layout, room: Room, scene: Scene) {
        print("\(layout.name ?? self.layout): preset \"\(scene.preset)\", page \(scene.page + 1) of \(scene.pageCount), "
              + "\(room.participants.count) participants, \(scene.participants.count) shown")
        for (cfg, out) in zip(layout.outputs, scene.outputs) {
            print("output \(cfg.id) (\(cfg.connector), \(cfg.mode), \(out.size.width)x\(out.size.height) at \(cfg.position.x),\(cfg.position.y)"
                  + (cfg.rotation == .none ? "" : ", rotated \(cfg.rotation.rawValue)°") + "): \(plural(out.tiles.count, "tile"))")
            for t in out.tiles {
                let who = t.participant.map { id in "\(id) \(room[id]?.name ?? "")" } ?? "(\(t.slate ?? "empty"))"
                let crop = t.crop == .full ? "" : String(format: "  crop %.3f,%.3f %.3fx%.3f", t.crop.x, t.crop.y, t.crop.width, t.crop.height)
                print("  \(pad(t.zone, 10)) \(pad(t.rect.description, 22)) \(who)\(t.stream == .screen ? " [screen]" : "")\(crop)")
            }
        }
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}

/// The room `plan` and `bench` imagine: N students, with p1 as the teacher and p2 sharing a screen
/// when the preset has such zones, so the plan shows what a real lesson would.
enum PlanRoom {
    /// The layout, its synthetic room and the scene for `preset` (default: the layout's) and `page`:
    /// what `plan` prints and `preview` draws.
    static func scene(layoutPath: String, participants: Int, preset: String?, page: Int,
                      teacher: String?) throws -> (Layout, Room, Scene) {
        let layout = try loadOrExplain(layoutPath)
        var state = ViewState(layout: layout)
        if let preset {
            guard layout.preset(named: preset) != nil else {
                throw ValidationError("unknown preset \"\(preset)\"; this layout has: \(layout.presets.map(\.name).joined(separator: ", "))")
            }
            state.preset = preset
        }
        state.page = page
        let room = make(count: participants, layout: layout, preset: state.preset, teacher: teacher)
        return (layout, room, SceneBuilder(layout: layout).build(room: room, state: state))
    }

    static func make(count: Int, layout: Layout, preset: String, teacher: String?) -> Room {
        var people = Room.synthetic(count: count).participants
        let zones = layout.preset(named: preset)?.zones ?? []
        let wantsTeacher = teacher != nil || zones.contains { $0.content == .teacher }
        let teacherID = teacher ?? "p1"
        if wantsTeacher, let i = people.firstIndex(where: { $0.id.rawValue == teacherID }) {
            people[i].role = .teacher
            people[i].name = "Teacher"
        }
        if zones.contains(where: { $0.content == .content }), let i = people.firstIndex(where: { $0.role == .teacher }) ?? people.indices.first {
            people[i].sharesScreen = true
        }
        return Room(participants: people)
    }
}

struct PlanJSON: Encodable {
    struct TileJSON: Encodable {
        var participant: String?
        var name: String?
        var zone: String
        var stream: String
        var x: Int, y: Int, width: Int, height: Int
        var crop: UnitRect?
        var slate: String?
    }
    struct OutputJSON: Encodable {
        var id: String
        var connector: String
        var mode: String
        var width: Int, height: Int
        var rotation: Int
        var tiles: [TileJSON]
    }
    var preset: String
    var page: Int
    var pages: Int
    var participants: Int
    var shown: Int
    var outputs: [OutputJSON]

    init(layout: Layout, room: Room, scene: Scene) {
        preset = scene.preset; page = scene.page; pages = scene.pageCount
        participants = room.participants.count; shown = scene.participants.count
        outputs = zip(layout.outputs, scene.outputs).map { cfg, out in
            OutputJSON(id: out.id, connector: cfg.connector, mode: cfg.mode.description,
                       width: out.size.width, height: out.size.height, rotation: out.rotation.rawValue,
                       tiles: out.tiles.map { t in
                           TileJSON(participant: t.participant?.rawValue, name: t.participant.flatMap { room[$0]?.name },
                                    zone: t.zone, stream: t.stream.rawValue,
                                    x: t.rect.x, y: t.rect.y, width: t.rect.width, height: t.rect.height,
                                    crop: t.crop == .full ? nil : t.crop, slate: t.slate)
                       })
        }
    }

    func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Tessera's version and the libraries it runs on.")
    func run() {
        print("tessera 0.1.0 (layout format v\(Layout.formatVersion))")
        print("FFmpeg \(FFmpegLibraries.release): " + FFmpegLibraries.versions.map(\.description).joined(separator: ", "))
    }
}

/// Loads a layout, or prints its problems and exits 1, telling the user how to see them again.
func loadOrExplain(_ path: String) throws -> Layout {
    switch LayoutFiles.load(path) {
    case .success(let layout): return layout
    case .failure(let error):
        for line in error.lines { printError(line) }
        printError("\(path) is not a valid layout; fix the lines above (`tessera validate \(path)` checks it again)")
        throw ExitCode(1)
    }
}

func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
