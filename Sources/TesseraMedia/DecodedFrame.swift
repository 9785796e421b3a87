internal import CFFmpeg
import TesseraCore

/// A decoded picture: one AVFrame reference, freed when the last holder lets go. The renderer
/// reads its planes in place (no copy); nothing writes to them after the decoder hands it over.
public final class DecodedFrame: VideoFrame, @unchecked Sendable {
    private let frame: UnsafeMutablePointer<AVFrame>
    public let size: Size
    public let format: PixelFormat
    public let matrix: ColorMatrix
    public let range: ColorRange
    public let decodedAt: ContinuousClock.Instant
    public let arrivedAt: ContinuousClock.Instant?
    /// Keyframe (IDR or recovery point).
    public let isKey: Bool
    /// The decoder flagged the picture as damaged (missing references, corrupt slices).
    public let isCorrupt: Bool
    /// The test publisher's stamp, when the stream carries one (see `TestStamp`).
    public let stamp: TestStamp?
    /// The exported VAAPI surface when the frame is DRM-PRIME (see `DRMPrime`); its descriptors
    /// live as long as this frame's AVFrame reference.
    public let dmaBuf: DMABufDescription?
    public var hasCPUPlanes: Bool { dmaBuf == nil }
    public var captureMicros: Int64? { stamp?.captureMicros }

    /// Takes ownership of `frame` (already holding its own reference).
    init(taking frame: UnsafeMutablePointer<AVFrame>, decodedAt: ContinuousClock.Instant, arrivedAt: ContinuousClock.Instant?,
         dmaBuf: DMABufDescription? = nil) {
        self.frame = frame
        let f = frame.pointee
        size = Size(width: Int(f.width), height: Int(f.height))
        format = dmaBuf?.pixelFormat ?? Self.pixelFormat(f.format) ?? .yuv420p
        (matrix, range) = Self.color(of: frame)
        self.dmaBuf = dmaBuf
        self.decodedAt = decodedAt
        self.arrivedAt = arrivedAt
        isKey = f.key_frame != 0
        isCorrupt = f.flags & 1 /* AV_FRAME_FLAG_CORRUPT */ != 0 || f.decode_error_flags != 0
        stamp = Self.stamp(of: frame)
    }

    /// The capture stamp among the frame's user-data SEIs: not always the first, as x264 puts its
    /// own (its version and settings) in the first picture of a stream, ahead of ours.
    static func stamp(of frame: UnsafeMutablePointer<AVFrame>) -> TestStamp? {
        let f = frame.pointee
        guard let all = f.side_data, f.nb_side_data > 0 else { return nil }
        for i in 0..<Int(f.nb_side_data) {
            guard let sd = all[i], sd.pointee.type == AV_FRAME_DATA_SEI_UNREGISTERED else { continue }
            if let s = TestStamp(seiPayload: UnsafeRawBufferPointer(start: sd.pointee.data, count: Int(sd.pointee.size))) { return s }
        }
        return nil
    }

    deinit {
        var f: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&f)
    }

    /// The matrix and range a frame's properties say. Untagged or other matrices get the default of
    /// docs/rendering.md: BT.709 from 720 lines up, BT.601 below; limited range unless tagged full
    /// (or a JPEG pixel format). BT.2020 constant luminance is drawn as non-constant (close, not exact).
    static func color(of frame: UnsafeMutablePointer<AVFrame>) -> (ColorMatrix, ColorRange) {
        let f = frame.pointee
        return (matrix(colorspace: f.colorspace, height: Int(f.height)),
                (f.color_range == AVCOL_RANGE_JPEG || f.format == AV_PIX_FMT_YUVJ420P.rawValue) ? .full : .limited)
    }

    /// The matrix for an `AVColorSpace` tag, or the default for the picture's height.
    static func matrix(colorspace: AVColorSpace, height: Int) -> ColorMatrix {
        switch colorspace {
        case AVCOL_SPC_BT709: .bt709
        case AVCOL_SPC_BT470BG, AVCOL_SPC_SMPTE170M, AVCOL_SPC_FCC: .bt601
        case AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT2020_CL: .bt2020
        default: height >= 720 ? .bt709 : .bt601
        }
    }

    /// The Core pixel format for an AVPixelFormat value, if Core has one.
    static func pixelFormat(_ raw: Int32) -> PixelFormat? {
        switch raw {
        case AV_PIX_FMT_YUV420P.rawValue, AV_PIX_FMT_YUVJ420P.rawValue: .yuv420p
        case AV_PIX_FMT_NV12.rawValue: .nv12
        case AV_PIX_FMT_BGRA.rawValue, AV_PIX_FMT_BGR0.rawValue: .bgra
        default: nil
        }
    }

    public func stride(ofPlane index: Int) -> Int {
        dmaBuf.map { $0.planes[index].pitch } ?? Int(tessera_frame_linesize(frame, Int32(index)))
    }

    public func withPlane<R>(_ index: Int, _ body: (RawSpan) throws -> R) rethrows -> R {
        precondition(dmaBuf == nil, "a DRM-PRIME frame has no CPU mapping (hasCPUPlanes is false)")
        precondition(index >= 0 && index < format.planeCount, "\(format) has \(format.planeCount) planes")
        let rows = format.planeSize(index, of: size).height
        let bytes = UnsafeRawBufferPointer(start: tessera_frame_plane(frame, Int32(index)), count: stride(ofPlane: index) * rows)
        return try body(RawSpan(_unsafeBytes: bytes))
    }
}

/// Converts pictures in formats Core has no name for (4:2:2, 4:4:4, 10-bit) to YUV 4:2:0, so
/// such a stream still shows — at the cost of one copy, counted in the stream's stats.
final class FormatConverter {
    private var sws: OpaquePointer?
    deinit { sws_freeContext(sws) }

    /// A new yuv420p frame with `src`'s picture and properties; nil if swscale refuses.
    func convert(_ src: UnsafeMutablePointer<AVFrame>) -> UnsafeMutablePointer<AVFrame>? {
        let w = src.pointee.width, h = src.pointee.height
        sws = sws_getCachedContext(sws, w, h, AVPixelFormat(rawValue: src.pointee.format), w, h, AV_PIX_FMT_YUV420P,
                                   SWS_BILINEAR, nil, nil, nil)
        guard let sws, let dst = av_frame_alloc() else { return nil }
        dst.pointee.width = w; dst.pointee.height = h; dst.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        av_frame_copy_props(dst, src)
        guard av_frame_get_buffer(dst, 0) >= 0 else { var d: UnsafeMutablePointer<AVFrame>? = dst; av_frame_free(&d); return nil }
        guard tessera_sws_scale_frame(sws, dst, src) > 0 else { var d: UnsafeMutablePointer<AVFrame>? = dst; av_frame_free(&d); return nil }
        return dst
    }
}
