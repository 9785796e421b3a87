import Testing
#if canImport(Glibc)
import Glibc
#endif
import TesseraCore

@Suite struct DMABufTests {
    @Test(arguments: [("NV12", 0x3231_564E as UInt32), ("YU12", 0x3231_5559), ("R8  ", 0x2020_3852),
                      ("GR88", 0x3838_5247), ("XR24", 0x3432_5258), ("AR24", 0x3432_5241)])
    func fourccMatchesDRMHeader(name: String, code: UInt32) {
        // Values from drm_fourcc.h (fourcc_code('N', 'V', '1', '2') …).
        #expect(DMABufDescription.fourcc(name) == code)
        let d = DMABufDescription(size: Size(width: 2, height: 2), fourcc: code, modifier: nil, planes: [])
        #expect(d.fourccName == name)
    }

    @Test func pixelFormatOfFourcc() {
        func format(_ f: UInt32) -> PixelFormat? {
            DMABufDescription(size: Size(width: 2, height: 2), fourcc: f, modifier: nil, planes: []).pixelFormat
        }
        #expect(format(DMABufDescription.nv12) == .nv12)
        #expect(format(DMABufDescription.yuv420) == .yuv420p)
        #expect(format(DMABufDescription.xrgb8888) == .bgra)
        #expect(format(DMABufDescription.r8) == nil)
    }

    @Test func cpuFramesHaveNoDMABuf() {
        let f = PlanarFrame(size: Size(width: 4, height: 4), format: .nv12, fill: [16, 128, 128])
        #expect(f.dmaBuf == nil)
        #expect(f.hasCPUPlanes)
    }

    /// The frame owns its descriptors: each is closed once (shared by two planes here) when the
    /// last holder lets go, and not before.
    @Test func dmaBufFrameClosesItsDescriptorsOnRelease() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        var frame: DMABufFrame? = DMABufFrame(taking: DMABufDescription(
            size: Size(width: 64, height: 32), fourcc: DMABufDescription.nv12, modifier: nil,
            planes: [DMABufPlane(fd: fds[0], offset: 0, pitch: 64), DMABufPlane(fd: fds[0], offset: 64 * 32, pitch: 64)]))
        let other = fds[1]
        defer { close(other) }
        #expect(frame?.hasCPUPlanes == false)
        #expect(frame?.format == .nv12)
        #expect(frame?.dmaBuf?.planes.count == 2)
        #expect(fcntl(fds[0], F_GETFD) >= 0)
        frame = nil
        #expect(fcntl(fds[0], F_GETFD) == -1 && errno == EBADF)
        #expect(fcntl(other, F_GETFD) >= 0)
    }
}
