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
/// are the equations rounded to the nearest level, off by at most 0.002 of a level before that.
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
    /// `sourceStride`) into BGRA rows `destinationStride` bytes apart, opaque.
    func convert(y py: UnsafePointer<UInt8>, cb pb: UnsafePointer<UInt8>, cr pr: UnsafePointer<UInt8>, sourceStride: Int,
                 into destination: UnsafeMutableRawPointer, destinationStride: Int, width: Int, height: Int) {
        let ky = y, kr = rCr &* 16, kgu = gCb &* 16, kgv = gCr &* 16, kb = bCb &* 16, cr0 = r0, cg0 = g0, cb0 = b0, s = Self.shift
        let vs = SIMD8<Int32>(repeating: s), zero = SIMD8<Int32>(repeating: 0), top = SIMD8<Int32>(repeating: 255)
        for row in 0..<height {
            let sy = py + row * sourceStride, su = pb + row * sourceStride, sv = pr + row * sourceStride
            let out = (destination + row * destinationStride).bindMemory(to: UInt32.self, capacity: width)
            var x = 0
            while x &+ 8 <= width {
                let l = SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(sy + x).loadUnaligned(as: SIMD8<UInt8>.self)) &* ky
                let u = SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(su + x).loadUnaligned(as: SIMD8<UInt8>.self))
                let v = SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(sv + x).loadUnaligned(as: SIMD8<UInt8>.self))
                let r = pointwiseMin(pointwiseMax((l &+ v &* kr &+ cr0) &>> vs, zero), top)
                let g = pointwiseMin(pointwiseMax((l &+ u &* kgu &+ v &* kgv &+ cg0) &>> vs, zero), top)
                let b = pointwiseMin(pointwiseMax((l &+ u &* kb &+ cb0) &>> vs, zero), top)
                let px = SIMD8<UInt32>(truncatingIfNeeded: b | g &<< 8 | r &<< 16) | 0xff00_0000
                UnsafeMutableRawPointer(out + x).storeBytes(of: px, as: SIMD8<UInt32>.self)
                x &+= 8
            }
            while x < width {
                let l = Int32(sy[x]) &* ky, u = Int32(su[x]), v = Int32(sv[x])
                let r = (l &+ v &* kr &+ cr0) &>> s
                let g = (l &+ u &* kgu &+ v &* kgv &+ cg0) &>> s
                let b = (l &+ u &* kb &+ cb0) &>> s
                out[x] = UInt32(truncatingIfNeeded: min(max(b, 0), 255)) | UInt32(truncatingIfNeeded: min(max(g, 0), 255)) << 8
                    | UInt32(truncatingIfNeeded: min(max(r, 0), 255)) << 16 | 0xff00_0000
                x &+= 1
            }
        }
    }
}
