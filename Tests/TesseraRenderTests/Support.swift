import Foundation
import Testing
import TesseraCore
import TesseraOutput
import TesseraRender

/// Fixtures and picture comparison shared by the render tests.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let background = Color(hex: "#101418")!
    static let tileBackground = Color(hex: "#202830")!
    static let white = Color(red: 255, green: 255, blue: 255)
    static let hand = Color(hex: "#ffb300")!
    static let speaker = Color(hex: "#00e676")!

    /// A font stack per use: FreeType faces are not thread-safe and tests run in parallel.
    static var fonts: FontStack { try! FontStack() }

    /// A 320x180 output exercising cover, contain, crop, border, highlights, labels in three
    /// scripts, an offline slate and an empty-zone slate.
    static func mixedScene(rotation: Rotation = .none) -> (OutputScene, FrameSourceTable) {
        let text = TextCache(fonts: fonts)
        let size = rotation.swapsAxes ? Size(width: 180, height: 320) : Size(width: 320, height: 180)
        let w = size.width, h = size.height
        let half = (w - 8) / 2, rowH = (h - 8) / 2
        var tiles: [Tile] = []
        tiles.append(Tile(participant: "p1", zone: "grid", rect: Rect(x: 0, y: 0, width: half, height: rowH), fit: .cover,
                          background: tileBackground, border: Border(width: 2, color: white),
                          label: Label(text: "Ana Łukasz", position: .bottomLeft, size: 12)))
        tiles.append(Tile(participant: "p2", zone: "grid", rect: Rect(x: half + 8, y: 0, width: w - half - 8, height: rowH), fit: .contain,
                          background: tileBackground,
                          label: Label(text: "Юлия Ελένη", position: .topRight, size: 11),
                          highlight: Highlight(reason: .handRaised, width: 3, color: hand)))
        tiles.append(Tile(participant: "p3", zone: "grid", rect: Rect(x: 0, y: rowH + 8, width: half, height: h - rowH - 8), fit: .cover,
                          background: tileBackground, label: Label(text: "Zoë Offline", position: .bottomLeft, size: 12)))
        // The right half of a picture box twice as wide as the tile: one side of a split picture.
        let cropTile = Rect(x: half + 8, y: rowH + 8, width: w - half - 8, height: h - rowH - 8)
        tiles.append(Tile(participant: "p4", stream: .screen, zone: "content", rect: cropTile,
                          contentSize: Size(width: cropTile.width * 2, height: cropTile.height),
                          crop: UnitRect(x: 0.5, y: 0, width: 0.5, height: 1), fit: .cover, background: tileBackground,
                          highlight: Highlight(reason: .activeSpeaker, width: 2, color: speaker)))
        // An empty zone over part of the first tile: drawn later, so on top.
        tiles.append(Tile(participant: nil, zone: "teacher", rect: Rect(x: 8, y: 8, width: half / 2, height: rowH / 2), fit: .cover,
                          background: Color(hex: "#402020")!, slate: "No teacher"))
        let table = FrameSourceTable([
            StreamID("p1"): StillFrameSource(Placeholder.participant(number: 1, size: Size(width: 160, height: 120), text: text)),
            StreamID("p2"): StillFrameSource(Placeholder.colorBars(size: Size(width: 128, height: 96), format: .nv12, matrix: .bt601, range: .limited)),
            StreamID("p3"): StillFrameSource(nil, state: .offline),
            StreamID("p4", .screen): StillFrameSource(Placeholder.colorBars(size: Size(width: 320, height: 90), format: .yuv420p, matrix: .bt709, range: .full)),
        ])
        return (OutputScene(id: "test", size: size, rotation: rotation, background: background, tiles: tiles), table)
    }

    static func panelSize(of scene: OutputScene) -> Size {
        scene.rotation.swapsAxes ? Size(width: scene.size.height, height: scene.size.width) : scene.size
    }
}

/// How far two pictures differ.
struct PictureDiff: CustomStringConvertible {
    var maxDelta: Int
    var meanDelta: Double
    /// Share of pixels with some channel off by more than the tolerance.
    var outliers: Double
    var description: String { String(format: "max %d, mean %.3f, outliers %.3f%%", maxDelta, meanDelta, outliers * 100) }

    static func between(_ a: MemoryBuffer, _ b: MemoryBuffer, tolerance: Int) -> PictureDiff? {
        guard a.size == b.size else { return nil }
        var maxDelta = 0, total = 0, outliers = 0
        let n = a.size.width * a.size.height
        for i in 0..<n {
            var worst = 0
            for c in 0..<3 {
                let d = abs(Int(a.bytes[i * 4 + c]) - Int(b.bytes[i * 4 + c]))
                worst = max(worst, d); total += d
            }
            maxDelta = max(maxDelta, worst)
            if worst > tolerance { outliers += 1 }
        }
        return PictureDiff(maxDelta: maxDelta, meanDelta: Double(total) / Double(n * 3), outliers: Double(outliers) / Double(n))
    }
}

enum Golden {
    static var updating: Bool { ProcessInfo.processInfo.environment["TESSERA_UPDATE_GOLDEN"] == "1" }

    /// Compares `picture` with Golden/<name>.png: every channel within `tolerance` for all but
    /// `outliers` of the pixels. With TESSERA_UPDATE_GOLDEN=1 it writes the golden instead.
    /// A failing comparison leaves the picture as Golden/<name>.actual.png to look at.
    static func check(_ picture: MemoryBuffer, _ name: String, tolerance: Int = 6, outliers: Double = 0.002,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = Fixtures.directory.appendingPathComponent("\(name).png")
        let actual = Fixtures.directory.appendingPathComponent("\(name).actual.png")
        if updating {
            try PNGFile.write(picture, to: url.path)
            return
        }
        guard FileManager.default.fileExists(atPath: url.path) else {
            try PNGFile.write(picture, to: actual.path)
            Issue.record("no golden \(name).png; run with TESSERA_UPDATE_GOLDEN=1 after checking \(actual.lastPathComponent)", sourceLocation: sourceLocation)
            return
        }
        let golden = try PNGFile.read(url.path)
        guard let diff = PictureDiff.between(picture, golden, tolerance: tolerance) else {
            Issue.record("\(name): size \(picture.size) differs from golden \(golden.size)", sourceLocation: sourceLocation)
            return
        }
        if diff.outliers > outliers {
            try PNGFile.write(picture, to: actual.path)
            Issue.record("\(name) differs from its golden: \(diff); see \(actual.lastPathComponent)", sourceLocation: sourceLocation)
        } else {
            try? FileManager.default.removeItem(at: actual)
        }
    }
}
