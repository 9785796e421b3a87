import Foundation
import Testing
import TesseraInput
import TesseraFFmpeg
import TesseraMedia
import TesseraOutput
import TesseraRender

/// The C shims compile, link and reach the real libraries installed by `make deps`.
@Suite struct LibraryTests {
    @Test func ffmpegIsTheVersionWeBuildFor() {
        let versions = Dictionary(uniqueKeysWithValues: FFmpegLibraries.versions.map { ($0.name, $0.major) })
        // Debian 12's FFmpeg 5.1: avformat 59, avcodec 59, avutil 57, swscale 6 (or newer).
        #expect(versions["libavformat"].map { $0 >= 59 } == true)
        #expect(versions["libavcodec"].map { $0 >= 59 } == true)
        #expect(versions["libavutil"].map { $0 >= 57 } == true)
        #expect(versions["libswscale"].map { $0 >= 6 } == true)
        #expect(FFmpegLibraries.hasDecoder("h264"))
        #expect(!FFmpegLibraries.hasDecoder("no-such-codec"))
    }

    @Test func ffmpegErrorMacrosAreWrapped() {
        #expect(FFmpegLibraries.errorText(FFmpegLibraries.endOfFile) == "End of file")
        #expect(FFmpegLibraries.errorText(-Int32(ENOENT)) == "No such file or directory")
    }

    @Test func headlessEGLOnMesa() throws {
        // make deps installs Mesa (libegl-mesa0): the surfaceless platform must open here.
        let report = try EGLProbe.surfaceless()
        #expect(report.vendor == "Mesa Project")
        #expect(report.version.hasPrefix("1."))
        #expect(report.clientExtensions.contains("EGL_MESA_platform_surfaceless"))
    }

    @Test(arguments: [("Page_Down", true), ("a", true), ("F1", true), ("1", true), ("PageDown", false), ("Ctrl", false)])
    func keysymNames(name: String, known: Bool) {
        #expect(Keysyms.isKnown(name) == known)
    }

    @Test func drmCardsAreListedFromTheDeviceDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-dri-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["card1", "renderD128", "card0"] {
            FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: nil)
        }
        #expect(DRMDevices.cards(in: dir.path) == [dir.path + "/card0", dir.path + "/card1"])
        #expect(DRMDevices.cards(in: "/nonexistent") == [])
        #expect(DRMDevices.xrgb8888 == 0x3432_5258) // fourcc "XR24"
    }
}
