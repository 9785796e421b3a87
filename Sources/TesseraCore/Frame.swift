/// Decoded pictures and where the renderer finds them: the meeting point of Media and Render.

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

/// The YCbCr → RGB matrix a stream was encoded with.
public enum ColorMatrix: String, Hashable, Sendable, CaseIterable {
    case bt601, bt709
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
    /// Bytes from the start of one row of plane `index` to the next (may exceed the row's width).
    func stride(ofPlane index: Int) -> Int
    /// Calls `body` with the bytes of plane `index` (rows of `stride(ofPlane:)` bytes). Called on
    /// the render thread; the bytes must not be kept beyond the call.
    func withPlane<R>(_ index: Int, _ body: (RawSpan) throws -> R) rethrows -> R
}

/// A picture whose planes are Swift arrays: test patterns, slates, and tests of the renderers.
public final class PlanarFrame: VideoFrame {
    public let size: Size
    public let format: PixelFormat
    public let matrix: ColorMatrix
    public let range: ColorRange
    public let decodedAt: ContinuousClock.Instant
    private let planes: [[UInt8]]
    private let strides: [Int]

    /// Planes are tightly packed (stride = plane width × bytes per pixel) unless `strides` says otherwise.
    public init(size: Size, format: PixelFormat, matrix: ColorMatrix = .bt709, range: ColorRange = .limited,
                planes: [[UInt8]], strides: [Int]? = nil) {
        precondition(planes.count == format.planeCount, "\(format) has \(format.planeCount) planes")
        self.size = size; self.format = format; self.matrix = matrix; self.range = range
        self.planes = planes
        self.strides = strides ?? (0..<format.planeCount).map { format.planeSize($0, of: size).width * format.bytesPerPixel(plane: $0) }
        for i in 0..<planes.count {
            precondition(planes[i].count >= self.strides[i] * format.planeSize(i, of: size).height, "plane \(i) is too small")
        }
        self.decodedAt = .now
    }

    /// A picture of one colour, given as Y, Cb, Cr (for YUV formats) or B, G, R, A bytes (for bgra).
    public convenience init(size: Size, format: PixelFormat, fill: [UInt8], matrix: ColorMatrix = .bt709, range: ColorRange = .limited) {
        let planes: [[UInt8]] = (0..<format.planeCount).map { i in
            let ps = format.planeSize(i, of: size)
            switch (format, i) {
            case (.bgra, _): return Array((0..<ps.width * ps.height).flatMap { _ in fill.prefix(4) })
            case (.nv12, 1): return Array((0..<ps.width * ps.height).flatMap { _ in [fill[1], fill[2]] })
            default: return [UInt8](repeating: fill[i], count: ps.width * ps.height)
            }
        }
        self.init(size: size, format: format, matrix: matrix, range: range, planes: planes)
    }

    public func stride(ofPlane index: Int) -> Int { strides[index] }

    public func withPlane<R>(_ index: Int, _ body: (RawSpan) throws -> R) rethrows -> R {
        try planes[index].withUnsafeBytes { bytes in try body(RawSpan(_unsafeBytes: bytes)) }
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
