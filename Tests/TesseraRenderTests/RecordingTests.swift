import Foundation
import Testing
import TesseraCore
import TesseraOutput
import TesseraRender

@Suite("Recording")
struct RecordingTests {
    struct Case: Sendable, CustomStringConvertible {
        var file: String
        var codec: String
        var description: String { "\(codec) in .\(file)" }
    }

    static let colour = Color(red: 200, green: 40, blue: 90)

    @Test("a headless output records its frames; decoded back, the count and the colour are right",
          arguments: [Case(file: "mp4", codec: "libx264"), Case(file: "mkv", codec: "mpeg4")])
    func recordAndDecode(_ c: Case) throws {
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        // Panel turned a quarter: the recording is what the viewer sees (portrait 96x160).
        let backend = HeadlessBackend(outputs: [.init(id: "rec", panelSize: Size(width: 160, height: 96), rotation: .quarter)], refresh: nil)
        try backend.start(buffers: .cpu)
        defer { backend.stop() }
        let output = try #require(backend.output("rec"))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-rec-\(UUID()).\(c.file)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try output.startRecording(to: path, fps: 25, codecs: [c.codec], readingWith: renderer)
        #expect(output.recorder?.codecName == c.codec)
        let size = Size(width: 96, height: 160)
        // A white block on the colour that moves each frame, so the encoder sees change.
        for n in 0..<6 {
            let tile = Tile(participant: nil, zone: "z", rect: Rect(x: 8 * n, y: 8, width: 16, height: 16), fit: .cover,
                            background: Fixtures.white)
            let scene = OutputScene(id: "rec", size: size, rotation: .quarter, background: Self.colour, tiles: [tile])
            try output.render(scene, with: renderer, sources: FrameSourceTable())
        }
        #expect(try output.stopRecording() == 6)

        let frames = try VideoFileReader.frames(of: path)
        #expect(frames.count == 6)
        let last = try #require(frames.last)
        #expect(last.size == size)
        let px = last[48, 120]   // far from the block
        #expect(abs(Int(px.red) - 200) <= 10 && abs(Int(px.green) - 40) <= 10 && abs(Int(px.blue) - 90) <= 10, "decoded \(px)")
        let block = last[8 * 5 + 8, 16]
        #expect(block.red > 200 && block.green > 200 && block.blue > 200, "decoded block \(block)")
    }

    @Test("odd sizes are refused with the file named")
    func oddSize() {
        #expect(throws: OutputError.self) { try VideoRecorder(path: "/tmp/x.mp4", size: Size(width: 33, height: 20)) }
    }
}
