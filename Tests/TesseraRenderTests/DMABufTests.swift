import Foundation
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif
import TesseraCore
@testable import TesseraRender

/// dma-buf frames: what can be tested without a GPU that imports them. The import itself
/// (eglCreateImageKHR succeeding, the external-image program sampling a VAAPI surface) needs a
/// driver with EGL_EXT_image_dma_buf_import and a render node; llvmpipe here has neither.
enum DMABufFixtures {
    static let yTiled: UInt64 = 0x0100_0000_0000_0002  // I915_FORMAT_MOD_Y_TILED

    static func nv12(modifier: UInt64?, matrix: ColorMatrix = .bt709, range: ColorRange = .limited) -> DMABufDescription {
        DMABufDescription(size: Size(width: 1920, height: 1080), fourcc: DMABufDescription.nv12, modifier: modifier,
                          planes: [DMABufPlane(fd: 7, offset: 0, pitch: 2048), DMABufPlane(fd: 7, offset: 2048 * 1088, pitch: 2048)],
                          matrix: matrix, range: range)
    }

    /// A frame whose descriptor is a pipe's read end (no driver imports that): the frame owns it.
    static func frame(size: Size = Size(width: 64, height: 32)) throws -> DMABufFrame {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        close(fds[1])
        return DMABufFrame(taking: DMABufDescription(
            size: size, fourcc: DMABufDescription.nv12, modifier: nil,
            planes: [DMABufPlane(fd: fds[0], offset: 0, pitch: size.width),
                     DMABufPlane(fd: fds[0], offset: size.width * size.height, pitch: size.width)]))
    }

    static let tileBackground = Color(red: 32, green: 40, blue: 48)
    static let size = Size(width: 160, height: 90)
    static var scene: OutputScene {
        OutputScene(id: "o", size: size, rotation: .none, background: Color(red: 0, green: 0, blue: 0), tiles: [
            Tile(participant: "p", zone: "z", rect: Rect(x: 0, y: 0, width: 160, height: 90), fit: .cover, background: tileBackground),
        ])
    }

    /// The tile shows the slate: its background in the corner, slate text (light grey) somewhere.
    static func expectSlate(_ picture: MemoryBuffer, sourceLocation: SourceLocation = #_sourceLocation) {
        let corner = picture[2, 2]
        #expect(abs(Int(corner.red) - 32) <= 2 && abs(Int(corner.green) - 40) <= 2 && abs(Int(corner.blue) - 48) <= 2,
                "corner is \(corner)", sourceLocation: sourceLocation)
        var light = 0
        for y in 0..<size.height { for x in 0..<size.width where picture[x, y].red > 150 { light += 1 } }
        #expect(light > 20, "no slate text drawn", sourceLocation: sourceLocation)
    }
}

@Suite struct DMABufAttributeTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var buffer: DMABufDescription
        var modifiersExtension: Bool
        var expected: [Int32]?
        var testDescription: String { name }
    }

    // Values from eglext.h: EGL_WIDTH 0x3057, EGL_HEIGHT 0x3056, EGL_LINUX_DRM_FOURCC_EXT 0x3271,
    // PLANE0 FD/OFFSET/PITCH 0x3272-4, PLANE1 0x3275-7, PLANE0/1 MODIFIER_LO/HI 0x3443-6,
    // YUV_COLOR_SPACE_HINT 0x327B (REC601 0x327F, REC709 0x3280), SAMPLE_RANGE_HINT 0x327C
    // (FULL 0x3282, NARROW 0x3283), EGL_NONE 0x3038.
    static let head: [Int32] = [0x3057, 1920, 0x3056, 1080, 0x3271, 0x3231_564E]
    static let planes: [Int32] = [0x3272, 7, 0x3273, 0, 0x3274, 2048, 0x3275, 7, 0x3276, 2048 * 1088, 0x3277, 2048]
    static let bt709Limited: [Int32] = [0x327B, 0x3280, 0x327C, 0x3283, 0x3038]

    static let cases: [Case] = [
        Case(name: "NV12, two planes, no modifier, no modifiers extension",
             buffer: DMABufFixtures.nv12(modifier: nil), modifiersExtension: false,
             expected: head + planes + bt709Limited),
        Case(name: "NV12, no modifier, modifiers extension: nothing per plane (implicit layout)",
             buffer: DMABufFixtures.nv12(modifier: nil), modifiersExtension: true,
             expected: head + planes + bt709Limited),
        Case(name: "NV12, Y-tiled, modifiers extension: lo/hi on each plane",
             buffer: DMABufFixtures.nv12(modifier: DMABufFixtures.yTiled), modifiersExtension: true,
             expected: head + [0x3272, 7, 0x3273, 0, 0x3274, 2048, 0x3443, 2, 0x3444, 0x0100_0000,
                               0x3275, 7, 0x3276, 2048 * 1088, 0x3277, 2048, 0x3445, 2, 0x3446, 0x0100_0000] + bt709Limited),
        Case(name: "NV12, Y-tiled, no modifiers extension: refused (implicit import would be garbage)",
             buffer: DMABufFixtures.nv12(modifier: DMABufFixtures.yTiled), modifiersExtension: false,
             expected: nil),
        Case(name: "NV12, linear, no modifiers extension: imported without modifier",
             buffer: DMABufFixtures.nv12(modifier: DMABufDescription.modifierLinear), modifiersExtension: false,
             expected: head + planes + bt709Limited),
        Case(name: "NV12, BT.601 full range hints",
             buffer: DMABufFixtures.nv12(modifier: nil, matrix: .bt601, range: .full), modifiersExtension: false,
             expected: head + planes + [0x327B, 0x327F, 0x327C, 0x3282, 0x3038]),
        Case(name: "NV12, BT.2020 limited range hints",
             buffer: DMABufFixtures.nv12(modifier: nil, matrix: .bt2020, range: .limited), modifiersExtension: false,
             expected: head + planes + [0x327B, 0x3281, 0x327C, 0x3283, 0x3038]),
        Case(name: "XRGB8888, one plane: no YUV hints",
             buffer: DMABufDescription(size: Size(width: 64, height: 32), fourcc: DMABufDescription.xrgb8888, modifier: nil,
                                       planes: [DMABufPlane(fd: 3, offset: 0, pitch: 256)]),
             modifiersExtension: false,
             expected: [0x3057, 64, 0x3056, 32, 0x3271, 0x3432_5258, 0x3272, 3, 0x3273, 0, 0x3274, 256, 0x3038]),
        Case(name: "five planes: refused",
             buffer: DMABufDescription(size: Size(width: 64, height: 32), fourcc: DMABufDescription.nv12, modifier: nil,
                                       planes: Array(repeating: DMABufPlane(fd: 3, offset: 0, pitch: 64), count: 5)),
             modifiersExtension: true, expected: nil),
    ]

    @Test(arguments: cases)
    func attributes(_ c: Case) {
        #expect(DMABufAttributes.make(c.buffer, modifiers: c.modifiersExtension) == c.expected)
    }

    @Test("a dma-buf frame without CPU planes is a picture only for a renderer that imports it",
          arguments: [(false, false, true), (false, true, true), (true, false, false), (true, true, true)])
    func tileContent(dmaBuf: Bool, imports: Bool, picture: Bool) throws {
        let frame: any VideoFrame = dmaBuf ? try DMABufFixtures.frame()
            : PlanarFrame(size: Size(width: 64, height: 32), format: .nv12, fill: [16, 128, 128])
        let sources = FrameSourceTable([StreamID("p"): StillFrameSource(frame)])
        let content = TileContent.decide(for: DMABufFixtures.scene.tiles[0], sources: sources, importsDMABuf: imports, names: { _ in "P" })
        switch content {
        case .picture(let f): #expect(picture && f === frame)
        case .slate(let title, let detail): #expect(!picture && title == "P" && detail == TileContent.unimportable)
        }
    }

    @Test("CPU renderer: a dma-buf frame shows the slate (no CPU mapping is made)")
    func cpuShowsSlate() throws {
        let cpu = try CPURenderer(fonts: Fixtures.fonts)
        let target = try cpu.makeOffscreenTarget(size: DMABufFixtures.size)
        let sources = FrameSourceTable([StreamID("p"): StillFrameSource(try DMABufFixtures.frame())])
        let stats = try cpu.draw(DMABufFixtures.scene, sources: sources, into: target)
        #expect(stats.framesConverted == 0)
        DMABufFixtures.expectSlate(try cpu.readPixels(of: target))
    }
}

@Suite("GLES dma-buf import on llvmpipe", .enabled(if: HeadlessGL.unavailable == nil, "needs Mesa's surfaceless EGL (libegl-mesa0, libgl1-mesa-dri)"))
struct GLESDMABufTests {
    @Test("without EGL_EXT_image_dma_buf_import a dma-buf frame is refused cleanly: slate, nothing tried")
    func refusedWithoutExtension() throws {
        let gles = try GLESRenderer(fonts: Fixtures.fonts)
        // Where the driver does import (a real GPU), this test says nothing; the refusal is llvmpipe's.
        try #require(!gles.canImportDMABuf, "this driver imports dma-bufs (\(gles.rendererName)); the refusal path is not reachable")
        #expect(!gles.compiledPrograms.contains("external.frag"))
        let target = try gles.makeOffscreenTarget(size: DMABufFixtures.size)
        let sources = FrameSourceTable([StreamID("p"): StillFrameSource(try DMABufFixtures.frame())])
        let stats = try gles.draw(DMABufFixtures.scene, sources: sources, into: target)
        #expect(stats.framesConverted == 0)
        #expect(gles.dmaBufImportProblem == nil)
        DMABufFixtures.expectSlate(try gles.readPixels(of: target))
    }

    @Test("a failing eglCreateImageKHR is logged once, with its output and stream, and the tile falls back to the slate")
    func failedImportFallsBack() throws {
        let reports = CapturedLog()
        let gles = try GLESRenderer(fonts: Fixtures.fonts, logger: reports.logger)
        // Drive the real import call on a display that does not offer it: Mesa refuses it.
        try gles.forceDMABufImportForTesting()
        let target = try gles.makeOffscreenTarget(size: DMABufFixtures.size)
        let source = StillFrameSource(try DMABufFixtures.frame())
        let sources = FrameSourceTable([StreamID("p"): source])
        _ = try gles.draw(DMABufFixtures.scene, sources: sources, into: target)
        source.deliver(try DMABufFixtures.frame())
        _ = try gles.draw(DMABufFixtures.scene, sources: sources, into: target)
        let lines = reports.lines
        #expect(lines.count == 1, "\(lines.map(\.message))")
        #expect(lines.first?.level == .warning)
        #expect(lines.first?.metadata["output"] == "o")
        #expect(lines.first?.metadata["stream"] == "\(StreamID("p"))")
        #expect(lines.first?.message.contains("eglCreateImageKHR") == true, "\(lines.first?.message ?? "")")
        let problem = try #require(gles.dmaBufImportProblem)
        #expect(problem.description.contains("eglCreateImageKHR(EGL_LINUX_DMA_BUF_EXT, NV12 64x32)"), "\(problem)")
        DMABufFixtures.expectSlate(try gles.readPixels(of: target))
    }
}

/// Keeps what a logger logs, with its metadata.
final class CapturedLog: Sendable {
    struct Line: Sendable { var level: Logger.Level; var message: String; var metadata: Logger.Metadata }
    private let store = Mutex<[Line]>([])
    var lines: [Line] { store.withLock { $0 } }
    var logger: Logger { Logger(label: "test") { _ in Handler(log: self) } }

    struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let line = Line(level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { _, new in new })
            log.store.withLock { $0.append(line) }
        }
    }
}
