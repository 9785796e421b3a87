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
        try backend.start(buffers: .cpu)
        defer { backend.stop() }
        let output = try #require(backend.output("test"))
        #expect(output.currentBuffer == nil, "nothing committed: nothing to read back")
        try output.waitForFrame()
        try output.render(scene, with: renderer, sources: sources)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-snapshot-\(UUID()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try output.writeSnapshot(to: path, readingWith: renderer)
        let back = try PNGFile.read(path)
        #expect(back.size == scene.size)   // upright: the logical (portrait) size, not the panel's
        let same = back.bytes == (try output.snapshot(readingWith: renderer)).bytes
        #expect(same, "PNG round trip is lossless")
    }

    @Test("prepare puts a newly arrived picture in the buffer before the refresh; each picture is new once")
    func prepareBetweenRefreshes() throws {
        let renderer = try CPURenderer(fonts: Fixtures.fonts, workers: 1)
        #expect(renderer.drawsIncrementally)
        let size = Size(width: 64, height: 36)
        let tile = Tile(participant: "p1", zone: "grid", rect: Rect(x: 0, y: 0, width: 64, height: 36), fit: .cover,
                        background: Color(red: 0, green: 0, blue: 0))
        let scene = OutputScene(id: "test", size: size, rotation: .none, background: Color(red: 0, green: 0, blue: 0), tiles: [tile])
        let white: [UInt8] = [235, 128, 128], black: [UInt8] = [16, 128, 128]
        let first = PlanarFrame(size: size, format: .yuv420p, fill: black, arrivedAt: .now)
        let source = StillFrameSource(first)
        let backend = HeadlessBackend(outputs: [.init(id: "test", panelSize: size)], refresh: 1)
        try backend.start(buffers: .cpu)
        defer { backend.stop() }
        let output = try #require(backend.output("test"))
        #expect(output.presentDue == nil, "no tick yet: nothing to prepare for")
        try output.waitForFrame()
        var shown = FirstShow()
        let sources = FrameSourceTable([StreamID("p1"): source])
        let presented = try #require(try output.render(scene, with: renderer, sources: sources))
        #expect(shown.newPictures(presented.pictures).map { ObjectIdentifier($0) } == [ObjectIdentifier(first)])
        let due = try #require(output.presentDue)
        #expect(due > .now, "the next tick is a second away")

        // A picture arrives between ticks: drawn into the next buffer now, not at the tick.
        let second = PlanarFrame(size: size, format: .yuv420p, fill: white, arrivedAt: .now)
        source.deliver(second)
        let next = try #require(try output.nextBuffer())
        let prepared = try renderer.draw(scene, sources: sources, into: next)
        #expect(prepared.tilesDrawn == 1)
        #expect(output.framesPresented == 1, "drawing into the next buffer shows nothing by itself")
        let picture = try renderer.readPixels(of: next)
        #expect(picture[32, 18].green > 200, "the new (white) picture is in the buffer before the tick")
        #expect(shown.newPictures(prepared.pictures).map { ObjectIdentifier($0) } == [ObjectIdentifier(second)])

        // The draw at the tick finds nothing new to draw, and the picture is not new again.
        let again = try #require(try output.render(scene, with: renderer, sources: sources))
        #expect(again.tilesDrawn == 0)
        #expect(shown.newPictures(again.pictures).isEmpty)
        #expect(output.framesPresented == 2)
    }
}
