internal import CSwscale
import TesseraCore

/// One swscale context for one tile: converts and scales the tile's source region straight into
/// the output buffer. Re-made only when sizes or formats change (sws_getCachedContext).
final class TileScaler {
    private var context: OpaquePointer?
    private var colorKey: (ColorMatrix, ColorRange, OpaquePointer)?
    /// swscale's SIMD paths write whole vectors past the end of a row, so it converts into this
    /// padded scratch picture and the rows are copied into the tile; writing straight into the
    /// output would spill into the neighbour tile, which another worker may be drawing.
    private var scratch: [UInt8] = []

    deinit { sws_freeContext(context) }

    /// Converts `placement`'s source region of `frame` into `destination` (BGRA, `stride` bytes a row,
    /// pointing at the placement's top-left pixel). Called on a worker thread; one tile per scaler.
    func convert(_ frame: any VideoFrame, _ placement: TilePlacement, destination: UnsafeMutableRawPointer, stride: Int) throws(RenderError) {
        let format = frame.format
        let chromaAligned = format != .bgra
        // swscale takes whole source pixels; YUV 4:2:0 crops start on even pixels so chroma lines up.
        var x0 = Int(placement.sourceX.rounded()), y0 = Int(placement.sourceY.rounded())
        let x1 = min(frame.size.width, max(x0 + 1, Int((placement.sourceX + placement.sourceWidth).rounded())))
        let y1 = min(frame.size.height, max(y0 + 1, Int((placement.sourceY + placement.sourceHeight).rounded())))
        if chromaAligned { x0 &= ~1; y0 &= ~1 }
        let srcW = Int32(x1 - x0), srcH = Int32(y1 - y0)
        let dst = placement.destination
        let srcFormat: AVPixelFormat = switch format {
        case .yuv420p: AV_PIX_FMT_YUV420P
        case .nv12: AV_PIX_FMT_NV12
        case .bgra: AV_PIX_FMT_BGRA
        }
        context = sws_getCachedContext(context, srcW, srcH, srcFormat, Int32(dst.width), Int32(dst.height),
                                       AV_PIX_FMT_BGRA, SWS_BILINEAR, nil, nil, nil)
        guard let context else {
            throw .cpu(operation: "sws_getCachedContext(\(srcW)x\(srcH) \(format) → \(dst.width)x\(dst.height) bgra)")
        }
        if format != .bgra, colorKey.map({ $0.0 != frame.matrix || $0.1 != frame.range || $0.2 != context }) ?? true {
            let inv = sws_getCoefficients(frame.matrix == .bt709 ? SWS_CS_ITU709 : SWS_CS_ITU601)
            let out = sws_getCoefficients(SWS_CS_DEFAULT)
            // Full-range RGB out; the source's range as the frame says.
            _ = sws_setColorspaceDetails(context, inv, frame.range == .full ? 1 : 0, out, 1, 0, 1 << 16, 1 << 16)
            colorKey = (frame.matrix, frame.range, context)
        }
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
            let scratchStride = (rowBytes + 64 + 63) & ~63
            if scratch.count < scratchStride * dst.height + 64 { scratch = [UInt8](repeating: 0, count: scratchStride * dst.height + 64) }
            let rows = scratch.withUnsafeMutableBytes { out -> Int32 in
                let aligned = out.baseAddress!.alignedUp(toMultipleOf: 64)
                var dstPlanes: [UnsafeMutablePointer<UInt8>?] = [aligned.assumingMemoryBound(to: UInt8.self), nil, nil, nil]
                var dstStride: [Int32] = [Int32(scratchStride), 0, 0, 0]
                let rows = src.withUnsafeBufferPointer { s in
                    sws_scale(context, s.baseAddress, &srcStride, 0, srcH, &dstPlanes, &dstStride)
                }
                for y in 0..<dst.height {
                    destination.advanced(by: y * stride).copyMemory(from: aligned.advanced(by: y * scratchStride), byteCount: rowBytes)
                }
                return rows
            }
            guard rows > 0 else { throw .cpu(operation: "sws_scale(\(format) \(srcW)x\(srcH) → \(dst.width)x\(dst.height))") }
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
