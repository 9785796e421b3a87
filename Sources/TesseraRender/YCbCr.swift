import CColour
import TesseraCore

/// The Y'CbCr → R'G'B' equations of BT.601, BT.709 and BT.2020 (non-constant luminance), limited
/// and full range, in 8-bit code values: the one place both renderers take their colour from. GLES
/// uploads them as a float matrix (`ColorConversion`); the CPU renderer uses integer tables made
/// from them (`YCbCrFixed`).
struct YCbCrEquations: Equatable {
    /// R = yScale·(Y − yOffset) + rCr·(Cr − 128); G = yScale·(Y − yOffset) + gCb·(Cb − 128) + gCr·(Cr − 128);
    /// B = yScale·(Y − yOffset) + bCb·(Cb − 128), all in 0–255 levels before clamping.
    var yScale: Double, yOffset: Double
    var rCr: Double, gCb: Double, gCr: Double, bCb: Double

    /// Luma weights of red and blue (Kr, Kb): BT.601 (also SMPTE 170M, BT.470 BG), BT.709, BT.2020.
    static func weights(_ m: ColorMatrix) -> (kr: Double, kb: Double) {
        switch m {
        case .bt601: (0.299, 0.114)
        case .bt709: (0.2126, 0.0722)
        case .bt2020: (0.2627, 0.0593)
        }
    }

    init(matrix: ColorMatrix, range: ColorRange) {
        let (kr, kb) = Self.weights(matrix), kg = 1 - kr - kb
        // Limited: Y' 16–235, Cb/Cr 16–240 around 128 (219 and 224 steps); full: 0–255 (255 steps).
        let ySteps = range == .limited ? 219.0 : 255.0, cSteps = range == .limited ? 224.0 : 255.0
        yScale = 255 / ySteps
        yOffset = range == .limited ? 16 : 0
        let c = 255 / cSteps
        // From E'Y = Kr·E'R + Kg·E'G + Kb·E'B, E'Cb = (E'B − E'Y) / (2(1 − Kb)), E'Cr = (E'R − E'Y) / (2(1 − Kr)).
        rCr = 2 * (1 - kr) * c
        bCb = 2 * (1 - kb) * c
        gCb = -2 * kb * (1 - kb) / kg * c
        gCr = -2 * kr * (1 - kr) / kg * c
    }
}

/// The equations of one (matrix, range) in 12.20 fixed point, for the CPU renderer's conversion
/// of a scaled 4:4:4 picture into BGRA: a pixel is a few multiply-adds on 32-bit lanes, eight
/// pixels at a time (SIMD8), instead of five table lookups. Chroma is taken as sixteen times its
/// code value. Each coefficient is rounded to 2⁻²⁰ of a level (per sixteenth of a code value for
/// chroma); the sum's rounding to the nearest level is folded into the constant terms, so results
/// are the equations rounded to the nearest level, off by under 0.004 of a level before that (half
/// of 2⁻²⁰ per coefficient unit: up to 255 units of Y' and 4080 sixteenths of each chroma; G has two
/// chroma terms). `ColourKernelTests` checks it for every Cb and Cr.
struct YCbCrFixed: Sendable {
    static let shift: Int32 = 20
    /// Per code value of Y'; per sixteenth of a code value of Cb and Cr.
    let y: Int32, rCr: Int32, gCb: Int32, gCr: Int32, bCb: Int32
    /// Constant terms per channel: the luma offset, the chroma centre (128) and the final ½ level.
    let r0: Int32, g0: Int32, b0: Int32

    init(_ e: YCbCrEquations) {
        let one = Double(1 << Self.shift)
        func fixed(_ v: Double) -> Int32 { Int32((v * one).rounded()) }
        y = fixed(e.yScale)
        rCr = fixed(e.rCr / 16); gCb = fixed(e.gCb / 16); gCr = fixed(e.gCr / 16); bCb = fixed(e.bCb / 16)
        let base = (0.5 - e.yOffset * e.yScale) * one
        r0 = Int32((base - 128 * e.rCr * one).rounded())
        g0 = Int32((base - 128 * (e.gCb + e.gCr) * one).rounded())
        b0 = Int32((base - 128 * e.bCb * one).rounded())
    }

    /// Built once, on first use, for every matrix and range.
    private static let all: [Key: YCbCrFixed] = Dictionary(uniqueKeysWithValues: ColorMatrix.allCases.flatMap { m in
        ColorRange.allCases.map { r in (Key(matrix: m, range: r), YCbCrFixed(YCbCrEquations(matrix: m, range: r))) }
    })
    private struct Key: Hashable { var matrix: ColorMatrix; var range: ColorRange }

    static func of(_ matrix: ColorMatrix, _ range: ColorRange) -> YCbCrFixed { all[Key(matrix: matrix, range: range)]! }
}

extension YCbCrFixed {
    /// Converts `height` rows of `width` pixels of planar Y'CbCr 4:4:4 (three planes sharing
    /// `sourceStride`) into BGRA rows `destinationStride` bytes apart, opaque: the C kernel
    /// (Sources/CColour), vectorised for the widest unit the CPU has.
    func convert(y py: UnsafePointer<UInt8>, cb pb: UnsafePointer<UInt8>, cr pr: UnsafePointer<UInt8>, sourceStride: Int,
                 into destination: UnsafeMutableRawPointer, destinationStride: Int, width: Int, height: Int) {
        var k = tessera_ycbcr_fixed(y: y, rCr: rCr, gCb: gCb, gCr: gCr, bCb: bCb, r0: r0, g0: g0, b0: b0)
        tessera_ycbcr444_to_bgra(&k, py, pb, pr, sourceStride, destination.assumingMemoryBound(to: UInt8.self),
                                 destinationStride, Int32(clamping: width), Int32(clamping: height))
    }

    /// Which kernel `convert` uses on this CPU ("avx2", "sse4.1" or "baseline").
    static var kernel: String { String(cString: tessera_ycbcr_kernel()) }
}
