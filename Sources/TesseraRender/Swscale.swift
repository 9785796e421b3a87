internal import CSwscale
import TesseraCore

/// Everything a swscale context is made for. The context is ours, made with `sws_getContext` and
/// given its colour details whenever this changes: `sws_getCachedContext` cannot be used, because
/// swscale adds `SWS_FULL_CHR_H_INT` to its own flags for odd output widths, so the cached context
/// never matched the flags asked for and was freed and re-made on every frame (often at the same
/// address, so colour details keyed by the address were skipped: odd-width tiles came out BT.601
/// limited, and 3–4× slower).
private struct ScalerParameters: Equatable {
    var source: Size
    var format: PixelFormat
    var output: Size
    var matrix: ColorMatrix
    var range: ColorRange
}

/// One swscale context for one tile: converts and scales the tile's source region into a padded
/// scratch picture, whose part the plan shows is copied into the output buffer. Re-made only when
/// sizes, formats, matrix or range change.
final class TileScaler {
    private var context: OpaquePointer?
    private var parameters: ScalerParameters?
    /// swscale's SIMD paths write whole vectors past the end of a row, so it converts into this
    /// padded scratch picture and the rows are copied into the tile; writing straight into the
    /// output would spill into the neighbour tile, which another worker may be drawing.
    private var scratch: [UInt8] = []

    /// Bilinear, swscale's fast path. Its YUV → RGB tables draw limited-range green about 2 levels
    /// low (white 255,253,255); the exact path (`SWS_FULL_CHR_H_INT | SWS_ACCURATE_RND`) measured
    /// 8× slower on a 232x130 tile and 70× on 1920x1080, so it is not used (docs/rendering.md).
    static let flags = SWS_BILINEAR

    deinit { sws_freeContext(context) }

    /// The source rows/columns to convert and where the plan's region lies in the scaled result:
    /// swscale takes whole source pixels, and YUV 4:2:0 regions must start on even pixels so chroma
    /// lines up, so a slightly larger aligned region is scaled at the plan's scale and the tile
    /// takes its pixels from `offset`. `even` makes the scaled width even: swscale draws odd widths
    /// on its slow full-chroma path (8× slower), and all tiles should look the same. Pure, for tests.
    static func span(start: Double, length: Double, limit: Int, output: Int, aligned: Bool, even: Bool = false) -> (first: Int, count: Int, scaled: Int, offset: Int) {
        let scale = Double(output) / max(length, 1)
        var first = max(0, min(limit - 1, Int(start.rounded(.down))))
        if aligned { first &= ~1 }
        let end = max(first + 1, min(limit, Int((start + length).rounded(.up))))
        let offset = max(0, Int(((start - Double(first)) * scale).rounded()))
        var scaled = max(offset + output, Int((Double(end - first) * scale).rounded()))
        if even && scaled % 2 == 1 { scaled += 1 }
        return (first, end - first, scaled, offset)
    }

    /// Converts `placement`'s source region of `frame` into `destination` (BGRA, `stride` bytes a row,
    /// pointing at the placement's top-left pixel). Called on a worker thread; one tile per scaler.
    func convert(_ frame: any VideoFrame, _ placement: TilePlacement, destination: UnsafeMutableRawPointer, stride: Int) throws(RenderError) {
        let format = frame.format
        let dst = placement.destination
        let aligned = format != .bgra
        let h = Self.span(start: placement.sourceX, length: placement.sourceWidth, limit: frame.size.width, output: dst.width, aligned: aligned, even: true)
        let v = Self.span(start: placement.sourceY, length: placement.sourceHeight, limit: frame.size.height, output: dst.height, aligned: aligned)
        let (x0, y0) = (h.first, v.first)
        let srcW = Int32(h.count), srcH = Int32(v.count)
        let wanted = ScalerParameters(source: Size(width: h.count, height: v.count), format: format,
                                      output: Size(width: h.scaled, height: v.scaled), matrix: frame.matrix, range: frame.range)
        if parameters != wanted || context == nil {
            sws_freeContext(context)
            parameters = nil
            let srcFormat: AVPixelFormat = switch format {
            case .yuv420p: AV_PIX_FMT_YUV420P
            case .nv12: AV_PIX_FMT_NV12
            case .bgra: AV_PIX_FMT_BGRA
            }
            context = sws_getContext(srcW, srcH, srcFormat, Int32(h.scaled), Int32(v.scaled), AV_PIX_FMT_BGRA, Self.flags, nil, nil, nil)
            guard let context else {
                throw .cpu(operation: "sws_getContext(\(srcW)x\(srcH) \(format) → \(h.scaled)x\(v.scaled) bgra)")
            }
            if format != .bgra {
                let inv = sws_getCoefficients(frame.matrix == .bt709 ? SWS_CS_ITU709 : SWS_CS_ITU601)
                let out = sws_getCoefficients(SWS_CS_DEFAULT)
                // Full-range RGB out; the source's range as the frame says.
                guard sws_setColorspaceDetails(context, inv, frame.range == .full ? 1 : 0, out, 1, 0, 1 << 16, 1 << 16) >= 0 else {
                    throw .cpu(operation: "sws_setColorspaceDetails(\(frame.matrix) \(frame.range))")
                }
            }
            parameters = wanted
        }
        guard let context else { throw .cpu(operation: "swscale context for \(format)") }
        try withPlanes(frame) { (planes: [UnsafeRawPointer]) throws(RenderError) in
            var src: [UnsafePointer<UInt8>?] = [nil, nil, nil, nil]
            var srcStride: [Int32] = [0, 0, 0, 0]
            for i in 0..<planes.count {
                let s = frame.stride(ofPlane: i)
                let (px, py) = i == 0 || format == .bgra ? (x0, y0) : (x0 / 2, y0 / 2)
                src[i] = planes[i].advanced(by: py * s + px * format.bytesPerPixel(plane: i)).assumingMemoryBound(to: UInt8.self)
                srcStride[i] = Int32(s)
            }
            let rowBytes = dst.width * 4
            let scratchStride = (h.scaled * 4 + 64 + 63) & ~63
            if scratch.count < scratchStride * v.scaled + 64 { scratch = [UInt8](repeating: 0, count: scratchStride * v.scaled + 64) }
            let rows = scratch.withUnsafeMutableBytes { out -> Int32 in
                let aligned = out.baseAddress!.alignedUp(toMultipleOf: 64)
                var dstPlanes: [UnsafeMutablePointer<UInt8>?] = [aligned.assumingMemoryBound(to: UInt8.self), nil, nil, nil]
                var dstStride: [Int32] = [Int32(scratchStride), 0, 0, 0]
                let rows = src.withUnsafeBufferPointer { s in
                    sws_scale(context, s.baseAddress, &srcStride, 0, srcH, &dstPlanes, &dstStride)
                }
                let first = aligned.advanced(by: v.offset * scratchStride + h.offset * 4)
                for y in 0..<dst.height {
                    destination.advanced(by: y * stride).copyMemory(from: first.advanced(by: y * scratchStride), byteCount: rowBytes)
                }
                return rows
            }
            guard rows > 0 else { throw .cpu(operation: "sws_scale(\(format) \(srcW)x\(srcH) → \(h.scaled)x\(v.scaled))") }
        }
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
