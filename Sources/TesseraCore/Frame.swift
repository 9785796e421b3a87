/// Decoded pictures and where the renderer finds them: the meeting point of Media and Render.

#if canImport(Glibc)
import Glibc
#endif

/// The wall clock that capture stamps use (`VideoFrame.captureMicros`): CLOCK_REALTIME in
/// microseconds since the Unix epoch. Publishers stamp with it; the wall measures against it.
public enum WallClock {
    public static func micros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    /// How long ago, in microseconds, a stamp read from a stream was taken, or nil when the stamp is
    /// not a plausible CLOCK_REALTIME reading of a picture still on its way: more than `futureSlack`
    /// in the future (another clock, or a hostile stream) or older than `maxAge`. Stamps come from
    /// outside, so the difference is computed without trapping arithmetic (an `Int64.max` stamp
    /// once ended the process).
    public static func age(ofStamp captured: Int64, now: Int64) -> Int64? {
        let (age, overflow) = now.subtractingReportingOverflow(captured)
        guard !overflow, age >= -futureSlack, age <= maxAge else { return nil }
        return max(0, age)
    }

    /// Clocks on one LAN agree to well within this (NTP); a stamp further ahead is not ours.
    public static let futureSlack: Int64 = 1_000_000
    /// A picture older than this is not measured as latency (an hour).
    public static let maxAge: Int64 = 3_600_000_000
}

/// Pixel layouts that decoders hand over and renderers draw.
public enum PixelFormat: String, Hashable, Sendable, CaseIterable {
    /// Three planes Y, U, V; chroma at half width and half height.
    case yuv420p
    /// Two planes Y and interleaved UV; chroma at half width and half height.
    case nv12
    /// One plane, 4 bytes a pixel in memory order B, G, R, A (DRM's ARGB8888/XRGB8888 on little-endian).
    case bgra

    public var planeCount: Int {
        switch self {
        case .yuv420p: 3
        case .nv12: 2
        case .bgra: 1
        }
    }

    /// Width and height of plane `i` for a picture of `size`.
    public func planeSize(_ i: Int, of size: Size) -> Size {
        switch (self, i) {
        case (.bgra, _), (_, 0): return size
        default: return Size(width: (size.width + 1) / 2, height: (size.height + 1) / 2)
        }
    }

    /// Bytes a pixel of plane `i` takes.
    public func bytesPerPixel(plane i: Int) -> Int {
        switch (self, i) {
        case (.bgra, _): 4
        case (.nv12, 1): 2
        default: 1
        }
    }
}

/// The YCbCr → RGB matrix a stream was encoded with (BT.2020: the non-constant-luminance one).
public enum ColorMatrix: String, Hashable, Sendable, CaseIterable {
    case bt601, bt709, bt2020
}

/// Whether luma spans 16–235 (limited, "TV") or 0–255 (full, "PC", JPEG).
public enum ColorRange: String, Hashable, Sendable, CaseIterable {
    case limited, full
}

/// A decoded picture. Reference-counted: its planes stay valid, and unchanged, for as long as
/// anyone holds the object, so a renderer can upload straight from them without a copy.
///
/// Implementations: Media's FFmpeg frame (an AVFrame reference) and `PlanarFrame` (bytes owned by
/// Swift, for synthetic pictures and tests).
public protocol VideoFrame: AnyObject, Sendable {
    var size: Size { get }
    var format: PixelFormat { get }
    var matrix: ColorMatrix { get }
    var range: ColorRange { get }
    /// When the frame left the decoder, for latency figures.
    var decodedAt: ContinuousClock.Instant { get }
    /// When the packet that completed the picture was read from its stream (its arrival at the
    /// wall), for latency figures; nil for pictures that did not come from a stream.
    var arrivedAt: ContinuousClock.Instant? { get }
    /// The publisher's capture time in microseconds since the Unix epoch (CLOCK_REALTIME), when the
    /// stream carries one (Tessera's test streams do, in an SEI); nil otherwise.
    var captureMicros: Int64? { get }
    /// Bytes from the start of one row of plane `index` to the next (may exceed the row's width).
    func stride(ofPlane index: Int) -> Int
    /// Calls `body` with the bytes of plane `index` (rows of `stride(ofPlane:)` bytes). Called on
    /// the render thread; the bytes must not be kept beyond the call.
    func withPlane<R>(_ index: Int, _ body: (RawSpan) throws -> R) rethrows -> R
    /// The picture as a dma-buf, when it lives in device memory (VAAPI decode exported as
    /// DRM-PRIME); nil for pictures in CPU memory (the default). Read on the render thread. The
    /// descriptors belong to the frame and stay open, unchanged, for as long as anyone holds it.
    var dmaBuf: DMABufDescription? { get }
    /// Whether `stride(ofPlane:)` and `withPlane` may be called (true by default). False for a
    /// dma-buf frame with no CPU copy: a renderer that cannot import it shows the slate instead.
    var hasCPUPlanes: Bool { get }
}

extension VideoFrame {
    public var arrivedAt: ContinuousClock.Instant? { nil }
    public var captureMicros: Int64? { nil }
    public var dmaBuf: DMABufDescription? { nil }
    public var hasCPUPlanes: Bool { true }
}

/// A picture whose planes are Swift arrays: test patterns, slates, and tests of the renderers.
public final class PlanarFrame: VideoFrame {
    public let size: Size
    public let format: PixelFormat
    public let matrix: ColorMatrix
    public let range: ColorRange
    public let decodedAt: ContinuousClock.Instant
    public let arrivedAt: ContinuousClock.Instant?
    public let captureMicros: Int64?
    private let planes: [[UInt8]]
    private let strides: [Int]

    /// Planes are tightly packed (stride = plane width × bytes per pixel) unless `strides` says otherwise.
    /// `arrivedAt` and `captureMicros` stand in for a stream's timing (tests of latency figures).
    public init(size: Size, format: PixelFormat, matrix: ColorMatrix = .bt709, range: ColorRange = .limited,
                planes: [[UInt8]], strides: [Int]? = nil, arrivedAt: ContinuousClock.Instant? = nil, captureMicros: Int64? = nil) {
        precondition(planes.count == format.planeCount, "\(format) has \(format.planeCount) planes")
        self.size = size; self.format = format; self.matrix = matrix; self.range = range
        self.planes = planes
        self.strides = strides ?? (0..<format.planeCount).map { format.planeSize($0, of: size).width * format.bytesPerPixel(plane: $0) }
        for i in 0..<planes.count {
            precondition(planes[i].count >= self.strides[i] * format.planeSize(i, of: size).height, "plane \(i) is too small")
        }
        self.decodedAt = .now
        self.arrivedAt = arrivedAt; self.captureMicros = captureMicros
    }

    /// A picture of one colour, given as Y, Cb, Cr (for YUV formats) or B, G, R, A bytes (for bgra).
    public convenience init(size: Size, format: PixelFormat, fill: [UInt8], matrix: ColorMatrix = .bt709, range: ColorRange = .limited,
                            arrivedAt: ContinuousClock.Instant? = nil, captureMicros: Int64? = nil) {
        let planes: [[UInt8]] = (0..<format.planeCount).map { i in
            let ps = format.planeSize(i, of: size)
            switch (format, i) {
            case (.bgra, _): return Array((0..<ps.width * ps.height).flatMap { _ in fill.prefix(4) })
            case (.nv12, 1): return Array((0..<ps.width * ps.height).flatMap { _ in [fill[1], fill[2]] })
            default: return [UInt8](repeating: fill[i], count: ps.width * ps.height)
            }
        }
        self.init(size: size, format: format, matrix: matrix, range: range, planes: planes, arrivedAt: arrivedAt, captureMicros: captureMicros)
    }

    public func stride(ofPlane index: Int) -> Int { strides[index] }

    public func withPlane<R>(_ index: Int, _ body: (RawSpan) throws -> R) rethrows -> R {
        try planes[index].withUnsafeBytes { bytes in try body(RawSpan(_unsafeBytes: bytes)) }
    }
}

// MARK: - dma-buf pictures

/// One plane of a dma-buf picture: which buffer, where its first row starts, and the row pitch.
public struct DMABufPlane: Hashable, Sendable {
    /// The dma-buf's file descriptor. Owned by the frame that carries the description, not by this value.
    public var fd: Int32
    /// Bytes from the start of the buffer to the plane's first row.
    public var offset: Int
    /// Bytes from one row to the next.
    public var pitch: Int
    public init(fd: Int32, offset: Int, pitch: Int) { self.fd = fd; self.offset = offset; self.pitch = pitch }
}

/// A picture in device memory that a GPU imports without a copy (EGL_EXT_image_dma_buf_import):
/// the values drm_fourcc.h and the EGL attribute list speak, with no C types.
public struct DMABufDescription: Hashable, Sendable {
    public var size: Size
    /// DRM_FORMAT_* code of the whole picture (e.g. `DMABufDescription.nv12`).
    public var fourcc: UInt32
    /// DRM format modifier (tiling, compression); nil when the producer gave none
    /// (DRM_FORMAT_MOD_INVALID: the driver's implicit layout).
    public var modifier: UInt64?
    /// In the order the fourcc defines (NV12: Y, then interleaved CbCr).
    public var planes: [DMABufPlane]
    public var matrix: ColorMatrix
    public var range: ColorRange

    public init(size: Size, fourcc: UInt32, modifier: UInt64?, planes: [DMABufPlane],
                matrix: ColorMatrix = .bt709, range: ColorRange = .limited) {
        self.size = size; self.fourcc = fourcc; self.modifier = modifier; self.planes = planes
        self.matrix = matrix; self.range = range
    }

    /// fourcc_code(a, b, c, d) of drm_fourcc.h, from its four-character name ("NV12", "R8  ").
    public static func fourcc(_ name: String) -> UInt32 {
        let bytes = Array(name.utf8)
        precondition(bytes.count == 4, "a fourcc has four characters")
        return UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
    }
    /// DRM_FORMAT_NV12, _YUV420, _R8, _GR88, _ARGB8888, _XRGB8888.
    public static let nv12 = fourcc("NV12"), yuv420 = fourcc("YU12"), r8 = fourcc("R8  "), gr88 = fourcc("GR88")
    public static let argb8888 = fourcc("AR24"), xrgb8888 = fourcc("XR24")
    /// DRM_FORMAT_MOD_LINEAR and DRM_FORMAT_MOD_INVALID.
    public static let modifierLinear: UInt64 = 0, modifierInvalid: UInt64 = 0x00ff_ffff_ffff_ffff

    /// The fourcc as its four characters, for messages.
    public var fourccName: String {
        String(decoding: (0..<4).map { UInt8(truncatingIfNeeded: fourcc >> (8 * $0)) }, as: UTF8.self)
    }

    /// Core's name for the layout, when it has one.
    public var pixelFormat: PixelFormat? {
        switch fourcc {
        case Self.nv12: .nv12
        case Self.yuv420: .yuv420p
        case Self.argb8888, Self.xrgb8888: .bgra
        default: nil
        }
    }
}

/// A picture known only by its dma-buf, with no CPU copy: it owns the descriptors and closes each
/// once in deinit. For producers that hand over bare descriptors (and tests); Media's VAAPI
/// frames instead keep the FFmpeg mapping that owns theirs.
public final class DMABufFrame: VideoFrame {
    public let buffer: DMABufDescription
    public let decodedAt: ContinuousClock.Instant

    /// Takes ownership of every descriptor in `buffer.planes`.
    public init(taking buffer: DMABufDescription) {
        self.buffer = buffer
        decodedAt = .now
    }

    deinit {
        for fd in Set(buffer.planes.map(\.fd)) where fd >= 0 { _ = close(fd) }
    }

    public var size: Size { buffer.size }
    /// The fourcc's layout; nv12 when Core has no name for it (only importers read such a frame).
    public var format: PixelFormat { buffer.pixelFormat ?? .nv12 }
    public var matrix: ColorMatrix { buffer.matrix }
    public var range: ColorRange { buffer.range }
    public var dmaBuf: DMABufDescription? { buffer }
    public var hasCPUPlanes: Bool { false }
    public func stride(ofPlane index: Int) -> Int { buffer.planes[index].pitch }
    public func withPlane<R>(_ index: Int, _ body: (RawSpan) throws -> R) rethrows -> R {
        preconditionFailure("a DMABufFrame has no CPU mapping (hasCPUPlanes is false)")
    }
}

/// Where a stream is in its life, as tiles and health reports show it.
public enum StreamState: String, Hashable, Sendable, Codable, CaseIterable {
    /// Opening, or waiting for the first keyframe.
    case connecting
    /// Frames are arriving.
    case playing
    /// Open, but no frame for longer than the stall timeout. The tile shows the slate with the
    /// name and this state rather than a frozen picture, which a viewer would take for live.
    case stalled
    /// Gave up for now; reconnecting with backoff. The tile shows the offline slate.
    case offline
}

/// The renderer's view of one stream: the newest frame and the state. Media implements it with a
/// single-slot mailbox (the newest frame wins; older ones are released).
public protocol FrameSource: AnyObject, Sendable {
    /// The newest decoded frame, or nil before the first. Called on the render thread at each
    /// output refresh; never blocks beyond a pointer swap. The caller shares ownership of the frame.
    func latestFrame() -> (any VideoFrame)?
    /// Called on any thread.
    var state: StreamState { get }
}
