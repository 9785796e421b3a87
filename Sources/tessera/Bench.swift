import ArgumentParser
import Foundation
import TesseraCore
import TesseraLayout

/// Micro-benchmarks of the pure parts, run by `make bench`. Figures are medians of many runs on a
/// shared machine: compare them within one run, not with fixed limits.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure scene building, media decoding, rendering, composition and latency.",
        subcommands: [SceneBench.self, MediaBench.self, RenderBench.self, ComposeBench.self, LatencyBench.self], defaultSubcommand: SceneBench.self)
}

struct SceneBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scene",
        abstract: "Time building the scene for N participants, per preset, and a preset switch.")

    @Option(help: "The layout file.") var layout: String = "Layouts/lecture-theatre.json"
    @Option(help: "Participants in the room.") var participants: Int = 250
    @Option(help: "Builds per measurement.") var iterations: Int = 2000

    func run() throws {
        let layout = try loadOrExplain(self.layout)
        let builder = SceneBuilder(layout: layout)
        print("scene build, \(participants) participants, \(layout.outputs.count) outputs (\(layout.name ?? self.layout)), \(iterations) iterations")
        print("| preset | tiles | median µs | p99 µs | min µs |")
        print("|---|---:|---:|---:|---:|")
        for preset in layout.presets {
            let room = PlanRoom.make(count: participants, layout: layout, preset: preset.name, teacher: nil)
            let state = ViewState(preset: preset.name)
            var tiles = 0
            let t = measure(iterations) { tiles = builder.build(room: room, state: state).outputs.reduce(0) { $0 + $1.tiles.count } }
            print("| \(preset.name) | \(tiles) | \(fmt(t.median)) | \(fmt(t.p99)) | \(fmt(t.min)) |")
        }
        // A preset switch as the kiosk does it: apply the shortcut's action, build the new scene.
        let room = PlanRoom.make(count: participants, layout: layout, preset: layout.defaultPreset, teacher: nil)
        var state = ViewState(layout: layout)
        let t = measure(iterations) {
            state = state.applying(.presetNext, layout: layout, room: room)
            _ = builder.build(room: room, state: state)
        }
        print("| (switch: preset.next + build) | | \(fmt(t.median)) | \(fmt(t.p99)) | \(fmt(t.min)) |")
    }

    private func fmt(_ d: Duration) -> String {
        String(format: "%.1f", Double(d.components.attoseconds) / 1e12 + Double(d.components.seconds) * 1e6)
    }

    private func measure(_ n: Int, _ body: () -> Void) -> (median: Duration, p99: Duration, min: Duration) {
        let clock = ContinuousClock()
        for _ in 0..<min(50, n) { body() } // warm up
        var samples = (0..<max(1, n)).map { _ in clock.measure(body) }
        samples.sort()
        return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)], samples[0])
    }
}
