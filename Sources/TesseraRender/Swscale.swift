internal import CSwscale
import Synchronization
import TesseraCore

/// One tile's picture on the CPU: swscale only *scales* the tile's source region (YUV to planar
/// YUV 4:4:4 at the scaled size, same matrix and range, no colour conversion; BGRA to BGRA), then
/// `YCbCrFixed` turns Y'CbCr into BGRA with the frame's matrix and range. Colour never depends on
/// swscale's own YUV → RGB paths, which change with the output width (odd widths get
/// `SWS_FULL_CHR_H_INT` and another context) and round green about 2 levels low.
final class TileScaler {
    private var context: OpaquePointer?
    /// What `context` was made for: it is re-made only when this changes.
    private var key: ScaleKey?

    deinit { sws_freeContext(context) }

    /// Bilinear, with the accurate vertical filter: the fast one's 12-bit coefficients overflow on
    /// the first rows of strong downscales (a solid 640x360 picture in a 3x3 tile came out 4 levels
    /// high in Y', Cb and Cr on the top row, 10 levels in RGB). It costs no measurable time here.
    private static let flags = SWS_BILINEAR | SWS_ACCURATE_RND

    /// Draws `placement`'s source region of `frame` into `destination` (BGRA, `stride` bytes a row,
    /// pointing at the placement's top-left pixel), scaling through `scratch`. Called on a worker
    /// thread; one tile per scaler, one worker per scratch.
    func convert(_ frame: any VideoFrame, _ placement: TilePlacement, destination: UnsafeMutableRawPointer, stride: Int,
                 scratch: ScaleScratch) throws(RenderError) {
        let format = frame.format
        let window = ScaleWindow.make(placement, picture: frame.size, evenStart: format != .bgra)
        let dst = placement.destination
        let srcFormat: AVPixelFormat = switch format {
        case .yuv420p: AV_PIX_FMT_YUV420P
        case .nv12: AV_PIX_FMT_NV12
        case .bgra: AV_PIX_FMT_BGRA
        }
        let dstFormat = format == .bgra ? AV_PIX_FMT_BGRA : AV_PIX_FMT_YUV444P
        let want = ScaleKey(source: window.source.size, sourceFormat: srcFormat.rawValue, scaled: window.scaled,
                            scaledFormat: dstFormat.rawValue, flags: Self.flags)
        if key != want {
            sws_freeContext(context)
            key = nil
            context = sws_getContext(Int32(want.source.width), Int32(want.source.height), srcFormat,
                                     Int32(want.scaled.width), Int32(want.scaled.height), dstFormat, want.flags, nil, nil, nil)
            guard context != nil else {
                throw .cpu(operation: "sws_getContext(\(format) \(want.source.width)x\(want.source.height) → \(want.scaled.width)x\(want.scaled.height))")
            }
            key = want
        }
        let fixed = format == .bgra ? nil : YCbCrFixed.of(frame.matrix, frame.range)
        try withPlanes(frame) { (planes: [UnsafeRawPointer]) throws(RenderError) in
            var src: [UnsafePointer<UInt8>?] = [nil, nil, nil, nil]
            var srcStride: [Int32] = [0, 0, 0, 0]
            let x0 = window.source.x, y0 = window.source.y
            for i in 0..<planes.count {
                let s = frame.stride(ofPlane: i)
                let (px, py) = i == 0 || format == .bgra ? (x0, y0) : (x0 / 2, y0 / 2)
                src[i] = planes[i].advanced(by: py * s + px * format.bytesPerPixel(plane: i)).assumingMemoryBound(to: UInt8.self)
                srcStride[i] = Int32(s)
            }
            let layout = ScaleScratch.Layout(format, scaled: window.scaled)
            let pixelBytes = layout.pixelBytes, planeCount = layout.planeCount
            let scratchStride = layout.stride, planeBytes = layout.planeBytes
            let rows = scratch.withBytes(layout.bytes) { out -> Int32 in
                let aligned = out.baseAddress!.alignedUp(toMultipleOf: 64)
                let plane = { (i: Int) in (aligned + i * planeBytes).assumingMemoryBound(to: UInt8.self) }
                var dstPlanes: [UnsafeMutablePointer<UInt8>?] = [plane(0), planeCount == 3 ? plane(1) : nil, planeCount == 3 ? plane(2) : nil, nil]
                var dstStride: [Int32] = [Int32(scratchStride), planeCount == 3 ? Int32(scratchStride) : 0, planeCount == 3 ? Int32(scratchStride) : 0, 0]
                let rows = src.withUnsafeBufferPointer { s in
                    sws_scale(context, s.baseAddress, &srcStride, 0, Int32(window.source.height), &dstPlanes, &dstStride)
                }
                guard rows > 0 else { return rows }
                // The tile is the plan's part of the scaled region.
                let first = window.offset.y * scratchStride + window.offset.x * pixelBytes
                if let fixed {
                    fixed.convert(y: plane(0) + first, cb: plane(1) + first, cr: plane(2) + first, sourceStride: scratchStride,
                                   into: destination, destinationStride: stride, width: dst.width, height: dst.height)
                } else {
                    for y in 0..<dst.height {
                        destination.advanced(by: y * stride).copyMemory(from: plane(0) + first + y * scratchStride, byteCount: dst.width * 4)
                    }
                }
                return rows
            }
            guard rows > 0 else {
                throw .cpu(operation: "sws_scale(\(format) \(window.source.width)x\(window.source.height) → \(window.scaled.width)x\(window.scaled.height))")
            }
        }
    }
}

/// The padded picture swscale scales into before the tile takes its part: swscale's SIMD paths
/// write whole vectors past the end of a row, and writing straight into the output would spill
/// into the neighbour tile, which another worker may be drawing.
///
/// The CPU renderer keeps one per worker thread, not one per tile: what they hold is bounded by
/// the workers and the largest tile shown (about 3 bytes a pixel of it), not by the tile count,
/// and a scratch bigger than every tile now shown is let go (`release(above:)`). Kept per tile,
/// the scratch of the 2x2-4K wall was a third copy of the whole wall (100 MiB in its gallery),
/// and a scene's largest tile stayed held after the scene was gone (issue 17, RELIABILITY.md).
final class ScaleScratch {
    // No property observer: one would copy the array on every in-place access.
    private var bytes: [UInt8] = []
    /// What all scratches of the process hold (`CPURenderer.scratchBytesInProcess`, /metrics).
    static let held = Atomic<Int>(0)

    deinit { Self.held.subtract(bytes.count, ordering: .relaxed) }

    /// Bytes held.
    var capacity: Int { bytes.count }

    /// Calls `body` with at least `count` bytes, grown (never shrunk) to fit.
    func withBytes<R>(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        if bytes.count < count {
            Self.held.add(count - bytes.count, ordering: .relaxed)
            bytes = []; bytes = [UInt8](repeating: 0, count: count)
        }
        return bytes.withUnsafeMutableBytes(body)
    }

    /// Lets the memory go when it is more than `limit` bytes (the largest tile shown needs).
    func release(above limit: Int) {
        guard bytes.count > limit else { return }
        Self.held.subtract(bytes.count, ordering: .relaxed)
        bytes = []
    }

    /// How a scaled picture lies in the scratch: planes of `planeBytes`, rows of `stride` bytes,
    /// 64 bytes of padding at each row's end and for aligning the start.
    struct Layout {
        var pixelBytes: Int, planeCount: Int, stride: Int, planeBytes: Int
        init(_ format: PixelFormat, scaled: Size) {
            pixelBytes = format == .bgra ? 4 : 1
            planeCount = format == .bgra ? 1 : 3
            stride = (scaled.width * pixelBytes + 64 + 63) & ~63
            planeBytes = stride * scaled.height
        }
        var bytes: Int { planeBytes * planeCount + 64 }

        /// What drawing `frame` at `placement` needs.
        static func of(_ frame: any VideoFrame, _ placement: TilePlacement) -> Layout {
            Layout(frame.format, scaled: ScaleWindow.make(placement, picture: frame.size, evenStart: frame.format != .bgra).scaled)
        }
    }
}

/// The conversion a swscale context was made for.
private struct ScaleKey: Equatable {
    var source: Size
    var sourceFormat: Int32
    var scaled: Size
    var scaledFormat: Int32
    var flags: Int32
}

/// What swscale scales for one tile. swscale takes whole source pixels (and, for 4:2:0 chroma, an
/// even start), while the plan's source region is fractional: a picture spanning displays with
/// bezels is cut anywhere. So the region is widened to whole pixels (even starts for YUV), scaled
/// by the plan's own factors, and the tile takes its pixels from the plan's offset in the scaled
/// picture: within half a pixel of the plan, plus at most half a pixel of drift across the tile.
struct ScaleWindow: Equatable {
    /// The whole-pixel source region handed to swscale.
    var source: Rect
    /// Its size once scaled (at least the tile's size plus its offset).
    var scaled: Size
    /// Where the tile's first pixel is in the scaled picture.
    var offset: Point

    /// swscale refuses pictures wider or taller than this.
    static let maxScaled = 16384

    static func make(_ p: TilePlacement, picture: Size, evenStart: Bool) -> ScaleWindow {
        let d = p.destination
        func axis(start: Double, length: Double, out: Int, limit: Int) -> (source: Int, sourceLength: Int, scaled: Int, offset: Int) {
            let k = Double(out) / max(length, 1e-9)
            var s0 = max(0, min(limit - 1, Int(start.rounded(.down))))
            if evenStart { s0 &= ~1 }
            let s1 = max(s0 + 1, min(limit, Int((start + length).rounded(.up))))
            let ideal = Double(s1 - s0) * k
            var scaled = ideal.isFinite ? Int(min(ideal, Double(maxScaled)).rounded()) : maxScaled
            scaled = max(scaled, out)
            let offset = max(0, min(scaled - out, Int(((start - Double(s0)) * k).rounded())))
            return (s0, s1 - s0, scaled, offset)
        }
        let h = axis(start: p.sourceX, length: p.sourceWidth, out: d.width, limit: picture.width)
        let v = axis(start: p.sourceY, length: p.sourceHeight, out: d.height, limit: picture.height)
        return ScaleWindow(source: Rect(x: h.source, y: v.source, width: h.sourceLength, height: v.sourceLength),
                           scaled: Size(width: h.scaled, height: v.scaled), offset: Point(x: h.offset, y: v.offset))
    }
}

/// Calls `body` with base addresses of all of `frame`'s planes at once.
func withPlanes<R>(_ frame: any VideoFrame, _ body: ([UnsafeRawPointer]) throws(RenderError) -> R) throws(RenderError) -> R {
    var result: Result<R, RenderError>?
    func step(_ i: Int, _ acc: [UnsafeRawPointer]) {
        if i == frame.format.planeCount {
            do throws(RenderError) { result = .success(try body(acc)) } catch { result = .failure(error) }
            return
        }
        frame.withPlane(i) { span in
            span.withUnsafeBytes { raw in
                if let base = raw.baseAddress { step(i + 1, acc + [base]) } else { result = .failure(.badFrame("plane \(i) is empty")) }
            }
        }
    }
    step(0, [])
    return try result!.get()
}
