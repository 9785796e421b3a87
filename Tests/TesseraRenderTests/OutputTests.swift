import Foundation
import Testing
import TesseraCore
import TesseraOutput
import TesseraRender

@Suite("Outputs")
struct OutputTests {
    static let connectors = [
        DRMConnector(id: 1, name: "HDMI-A-1", connected: true, modes: [
            DRMMode(width: 5120, height: 2160, refresh: 30, preferred: false),
            DRMMode(width: 3840, height: 2160, refresh: 60, preferred: true),
            DRMMode(width: 3840, height: 2160, refresh: 30, preferred: false),
        ]),
        DRMConnector(id: 2, name: "DP-1", connected: false, modes: []),
        DRMConnector(id: 3, name: "DP-2", connected: true, modes: [DRMMode(width: 1920, height: 1080, refresh: 60, preferred: true)]),
    ]

    @Test("connectors match by name, else in order; the layout's mode exactly, never the first listed")
    func matching() {
        let a = ConnectorMatch.assign([
            .init(outputID: "left", connector: "HDMI-A-1", width: 3840, height: 2160, refresh: 30),
            .init(outputID: "right", connector: "any", width: 1920, height: 1080, refresh: nil),
            .init(outputID: "gone", connector: "DP-1", width: 1920, height: 1080, refresh: nil),
            .init(outputID: "odd", connector: "any", width: 1920, height: 1080, refresh: nil),
        ], to: Self.connectors)
        #expect(a[0].connector == "HDMI-A-1" && a[0].mode == DRMMode(width: 3840, height: 2160, refresh: 30, preferred: false))
        #expect(a[1].connector == "DP-2" && a[1].mode?.width == 1920)
        #expect(a[2].mode == nil && a[2].problem == "DP-1 has no display connected")
        #expect(a[3].connector == nil)
    }

    @Test("headless output: PNG snapshot is what the viewer sees, and reads back equal")
    func headlessSnapshot() throws {
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        let (scene, sources) = Fixtures.mixedScene(rotation: .quarter)
        let backend = HeadlessBackend(outputs: [.init(id: "test", panelSize: Fixtures.panelSize(of: scene), rotation: .quarter)], refresh: nil)
        try backend.start(renderer: renderer)
        defer { backend.stop() }
        let output = try #require(backend.output("test"))
        try output.waitForFrame()
        try output.present(scene, renderer: renderer, sources: sources)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-snapshot-\(UUID()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try output.writeSnapshot(to: path)
        let back = try PNGFile.read(path)
        #expect(back.size == scene.size)   // upright: the logical (portrait) size, not the panel's
        let same = back.bytes == (try output.snapshot()).bytes
        #expect(same, "PNG round trip is lossless")
    }
}
