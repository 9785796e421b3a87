import Foundation
import Logging
import Synchronization
import TesseraCore
import TesseraLayout
import TesseraOutput
@testable import TesseraKiosk
import Testing

/// Issue 12, finding 2: a running wall that hot-reloaded a layout with values at the edge of Int or
/// Double trapped (in the checks, or converting a 1e308 mm bezel to pixels) and ended; a 15 MB
/// file kept it busy for minutes. Now every such edit is refused with its file and JSON path in the
/// log, and the wall keeps drawing its last good layout. A real headless wall (CPU renderer,
/// snapshots), its layout file rewritten under it as an installer's editor would.
@Suite(.serialized) struct LayoutReloadTests {
    /// One output, no participants: the corner of the picture is the layout's background (the grid,
    /// empty, draws its slate in the lower right), so a snapshot shows which layout is on screen.
    static func layout(background: String, output extra: String = "", position: String = "0") -> String {
        #"""
        {
          "version": 1,
          "wall": {"outputs": [
            {"id": "main", "mode": "320x180@60", "position": {"x": \#(position), "y": 0}\#(extra)}
          ]},
          "style": {"background": "\#(background)"},
          "presets": [{"name": "gallery", "zones": [
            {"id": "grid", "rect": {"x": 160, "y": 90, "width": 160, "height": 90}, "content": {"type": "grid"}}
          ]}]
        }
        """#
    }

    static let good = (background: "#204060", rgb: (0x20, 0x40, 0x60))
    /// Every bad edit also changes the background, so a wall that took it would show red.
    static let red = "#ff0000"

    static let badEdits: [(name: String, text: String, logged: String)] = [
        ("an output at x = Int.max", layout(background: red, position: "9223372036854775807"),
         "wall.outputs[0].position.x: expected an integer from 0 to 1000000, got 9223372036854775807"),
        ("a bezel of 1e308 mm", layout(background: red, output: #", "physical": {"width": 1209, "height": 680}, "bezel": {"right": 1e308}"#),
         "wall.outputs[0].bezel.right: expected a number from 0 to 1000 mm, got 1e308"),
        ("a panel 1e-300 mm wide", layout(background: red, output: #", "physical": {"width": 1e-300, "height": 680}, "bezel": {"right": 5}"#),
         "wall.outputs[0].physical.width: expected a number from 10 to 100000 mm, got 1e-300"),
        ("a 15 MB file", layout(background: red) + String(repeating: " ", count: 15_000_000),
         "the file is over 4 MiB (4194304 bytes), the most a layout may be"),
    ]

    @Test func badEditsAreRefusedWithTheirPathAndTheLastGoodLayoutStaysOnScreen() async throws {
        LoggingSystem.bootstrapForTests()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-reload-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/wall.json"
        try Self.layout(background: Self.good.background).write(toFile: path, atomically: true, encoding: .utf8)
        let lastGood = try LayoutFiles.load(path).get()

        var config = KioskConfiguration.forTests(Room(participants: []), fps: 10)
        config.layoutPath = path
        config.snapshotDirectory = "\(dir)/snapshots"
        config.snapshotInterval = .milliseconds(200)
        config.reloadInterval = .milliseconds(100)
        let log = LogLines()
        let kiosk = try Kiosk(configuration: config, logger: Logger(label: "tessera.kiosk") { _ in log })
        let run = Task { try await kiosk.run() }
        defer { run.cancel() }
        let snapshot = "\(dir)/snapshots/main.png"
        try await expectBackground(snapshot, Self.good.rgb, kiosk: kiosk)

        for (i, edit) in Self.badEdits.enumerated() {
            log.clear()
            try edit.text.write(toFile: path, atomically: true, encoding: .utf8)
            try await eventually("\(edit.name) refused") { (kiosk.metrics.counts["layout_reload_rejected"] ?? 0) == i + 1 }
            #expect(kiosk.wall.currentLayout == lastGood, "\(edit.name)")
            #expect(log.lines.contains { $0.hasPrefix(path + ":") && $0.hasSuffix(edit.logged) }, "\(edit.name): \(log.lines)")
            #expect(log.lines.contains { $0.contains("the last good layout stays on screen") }, "\(edit.name): \(log.lines)")
            // Still drawing: new frames after the refusal, and they show the last good layout.
            try await expectBackground(snapshot, Self.good.rgb, kiosk: kiosk)
        }
        #expect(kiosk.metrics.counts["layout_reloads"] == nil)

        // A good edit still applies (and the snapshot check sees a changed background).
        try Self.layout(background: "#00ff00").write(toFile: path, atomically: true, encoding: .utf8)
        try await eventually("good edit applied") { kiosk.metrics.counts["layout_reloads"] == 1 }
        try await expectBackground(snapshot, (0, 255, 0), kiosk: kiosk)
        await kiosk.shutdown()
        try await run.value
    }

    /// Waits for two snapshots written after this call began (so they come from frames drawn now)
    /// and checks the corner shows `rgb`.
    func expectBackground(_ snapshot: String, _ rgb: (Int, Int, Int), kiosk: Kiosk) async throws {
        let presented = kiosk.metrics.outputFigures.first?.framesPresented ?? 0
        let written = kiosk.metrics.outputFigures.first?.snapshotsWritten ?? 0
        try await eventually("new frames presented and snapshots written") {
            let f = kiosk.metrics.outputFigures.first
            return (f?.framesPresented ?? 0) > presented + 2 && (f?.snapshotsWritten ?? 0) >= written + 2
        }
        let picture = try PNGFile.read(snapshot)
        let c = picture[4, 4]
        #expect(TestColors.close((Int(c.red), Int(c.green), Int(c.blue)), rgb, tolerance: 4), "background \(c), expected \(rgb)")
    }
}

/// A log handler that keeps each message (with its metadata's `path` when present) for the test.
final class LogLines: LogHandler, Sendable {
    private let store = Mutex<[String]>([])
    var lines: [String] { store.withLock { $0 } }
    func clear() { store.withLock { $0.removeAll() } }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        store.withLock { $0.append(message.description) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
}
