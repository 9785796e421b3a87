import CFFmpeg
import Testing
import TesseraCore
@testable import TesseraMedia

/// The AVDRMFrameDescriptor → Core conversion, on descriptors built here the way FFmpeg's VAAPI
/// export fills them (vaExportSurfaceHandle with separate layers). The export itself needs a
/// VAAPI driver and a render node, which this machine does not have.
@Suite struct DRMPrimeTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var objects: [(fd: Int32, modifier: UInt64)]
        var layers: [(format: UInt32, planes: [(object: Int32, offset: Int, pitch: Int)])]
        var expected: DMABufDescription?
        var testDescription: String { name }
    }

    static let size = Size(width: 1920, height: 1080)
    static let yTiled: UInt64 = 0x0100_0000_0000_0002  // I915_FORMAT_MOD_Y_TILED
    static let cases: [Case] = [
        Case(name: "NV12 as R8 + GR88 layers, one object, Y-tiled",
             objects: [(7, yTiled)],
             layers: [(DMABufDescription.r8, [(0, 0, 2048)]), (DMABufDescription.gr88, [(0, 2048 * 1088, 2048)])],
             expected: DMABufDescription(size: size, fourcc: DMABufDescription.nv12, modifier: yTiled,
                                         planes: [DMABufPlane(fd: 7, offset: 0, pitch: 2048),
                                                  DMABufPlane(fd: 7, offset: 2048 * 1088, pitch: 2048)])),
        Case(name: "NV12 as one two-plane layer, two objects, modifier invalid (implicit)",
             objects: [(7, DMABufDescription.modifierInvalid), (8, DMABufDescription.modifierInvalid)],
             layers: [(DMABufDescription.nv12, [(0, 0, 1920), (1, 0, 1920)])],
             expected: DMABufDescription(size: size, fourcc: DMABufDescription.nv12, modifier: nil,
                                         planes: [DMABufPlane(fd: 7, offset: 0, pitch: 1920),
                                                  DMABufPlane(fd: 8, offset: 0, pitch: 1920)])),
        Case(name: "YUV420 as three R8 layers, linear",
             objects: [(9, DMABufDescription.modifierLinear)],
             layers: [(DMABufDescription.r8, [(0, 0, 1920)]), (DMABufDescription.r8, [(0, 1920 * 1080, 960)]),
                      (DMABufDescription.r8, [(0, 1920 * 1080 * 5 / 4, 960)])],
             expected: DMABufDescription(size: size, fourcc: DMABufDescription.yuv420, modifier: 0,
                                         planes: [DMABufPlane(fd: 9, offset: 0, pitch: 1920),
                                                  DMABufPlane(fd: 9, offset: 1920 * 1080, pitch: 960),
                                                  DMABufPlane(fd: 9, offset: 1920 * 1080 * 5 / 4, pitch: 960)])),
        Case(name: "P010 (R16 + GR1616): no Core layout, refused",
             objects: [(7, 0)],
             layers: [(DMABufDescription.fourcc("R16 "), [(0, 0, 3840)]), (DMABufDescription.fourcc("GR32"), [(0, 3840 * 1088, 3840)])],
             expected: nil),
        Case(name: "plane names an object that does not exist: refused",
             objects: [(7, 0)],
             layers: [(DMABufDescription.r8, [(0, 0, 2048)]), (DMABufDescription.gr88, [(1, 0, 2048)])],
             expected: nil),
        Case(name: "objects disagree on the modifier: refused",
             objects: [(7, 0), (8, yTiled)],
             layers: [(DMABufDescription.nv12, [(0, 0, 1920), (1, 0, 1920)])],
             expected: nil),
        Case(name: "NV12 fourcc with one plane: refused",
             objects: [(7, 0)],
             layers: [(DMABufDescription.nv12, [(0, 0, 1920)])],
             expected: nil),
    ]

    @Test(arguments: cases)
    func descriptorToCore(_ c: Case) throws {
        let raw = try #require(av_mallocz(MemoryLayout<AVDRMFrameDescriptor>.size))
        defer { av_free(raw) }
        let d = raw.bindMemory(to: AVDRMFrameDescriptor.self, capacity: 1)
        d.pointee.nb_objects = Int32(c.objects.count)
        for (i, o) in c.objects.enumerated() {
            let obj = tessera_drm_object(d, Int32(i))!
            obj.pointee.fd = o.fd; obj.pointee.format_modifier = o.modifier; obj.pointee.size = 4 << 20
        }
        d.pointee.nb_layers = Int32(c.layers.count)
        for (i, l) in c.layers.enumerated() {
            let layer = tessera_drm_layer(d, Int32(i))!
            layer.pointee.format = l.format
            layer.pointee.nb_planes = Int32(l.planes.count)
            for (j, p) in l.planes.enumerated() {
                let plane = tessera_drm_plane(layer, Int32(j))!
                plane.pointee.object_index = p.object; plane.pointee.offset = p.offset; plane.pointee.pitch = p.pitch
            }
        }
        let got = DRMPrime.description(of: d, size: Self.size, matrix: .bt709, range: .limited)
        #expect(got == c.expected)
    }
}
