import CColour
import Testing
import TesseraCore
@testable import TesseraRender

/// The CPU renderer's colour pass is one C loop compiled for AVX2, SSE4.1 and the baseline and
/// chosen by the CPU at run time (Sources/CColour). Every kernel this machine can run must give
/// the same bytes, and those bytes must be the BT.601/709/2020 equations (`ColourReference`,
/// written from the standards) rounded to the nearest level, for every Cb and Cr and a sweep of Y'.
@Suite("Colour pass kernels")
struct ColourKernelTests {
    static let kernels = ["baseline", "sse4.1", "avx2"]

    /// Cb down the rows, Cr across the columns, one Y' for the whole picture; `width` 256 or an odd
    /// width (the vector loops' tails).
    static func planes(y: UInt8, width: Int) -> (y: [UInt8], cb: [UInt8], cr: [UInt8]) {
        var cb = [UInt8](repeating: 0, count: width * 256), cr = cb
        for row in 0..<256 {
            for col in 0..<width {
                cb[row * width + col] = UInt8(row)
                cr[row * width + col] = UInt8(col * 255 / max(1, width - 1))
            }
        }
        return ([UInt8](repeating: y, count: width * 256), cb, cr)
    }

    static func convert(_ kernel: String, _ k: YCbCrFixed, _ p: (y: [UInt8], cb: [UInt8], cr: [UInt8]), width: Int) -> [UInt32]? {
        var fixed = tessera_ycbcr_fixed(y: k.y, rCr: k.rCr, gCb: k.gCb, gCr: k.gCr, bCb: k.bCb, r0: k.r0, g0: k.g0, b0: k.b0)
        var out = [UInt32](repeating: 0, count: width * 256)
        let rc = out.withUnsafeMutableBytes { o in
            tessera_ycbcr444_to_bgra_kernel(kernel, &fixed, p.y, p.cb, p.cr, width, o.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                            width * 4, Int32(width), 256)
        }
        return rc == 0 ? out : nil
    }

    @Test("every kernel this CPU has gives the same bytes, the equations rounded to the nearest level",
          arguments: [ColorMatrix.bt601, .bt709, .bt2020], [ColorRange.limited, .full])
    func kernelsAgreeWithTheEquations(matrix: ColorMatrix, range: ColorRange) throws {
        let k = YCbCrFixed.of(matrix, range)
        var ran: Set<String> = []
        for width in [256, 37] {
            for y in stride(from: 0, through: 255, by: 17) {
                let p = Self.planes(y: UInt8(y), width: width)
                let reference = try #require(Self.convert("baseline", k, p, width: width))
                for kernel in Self.kernels.dropFirst() {
                    guard let got = Self.convert(kernel, k, p, width: width) else { continue }
                    ran.insert(kernel)
                    #expect(got == reference, "\(kernel) differs from the baseline kernel (\(matrix), \(range), Y' \(y), width \(width))")
                }
                var worst = 0.0
                for i in reference.indices {
                    let px = reference[i]
                    let got = Color(red: UInt8(px >> 16 & 0xff), green: UInt8(px >> 8 & 0xff), blue: UInt8(px & 0xff))
                    #expect(px >> 24 == 0xff)
                    worst = max(worst, ColourReference.error(got, ColourReference.rgb(y: UInt8(y), cb: p.cb[i], cr: p.cr[i], matrix: matrix, range: range)))
                }
                // Rounded to the nearest level: at most half a level, plus what the 12.20 coefficients
                // lose (YCbCrFixed: under 0.004 of a level).
                #expect(worst <= 0.504, "\(matrix) \(range) Y' \(y): \(worst) levels off the equations")
            }
        }
        // The machine's own choice is one of those that ran (or the baseline).
        #expect(YCbCrFixed.kernel == "baseline" || ran.contains(YCbCrFixed.kernel))
    }

    @Test("an unknown kernel name is refused, not run")
    func unknownKernel() {
        let k = YCbCrFixed.of(.bt709, .limited)
        #expect(Self.convert("avx512", k, Self.planes(y: 100, width: 8), width: 8) == nil)
    }
}
