import TesseraCore

/// The Y'CbCr → R'G'B' equations of BT.601, BT.709 and BT.2020 (non-constant luminance), limited
/// and full range, in 8-bit code values: the one place both renderers take their colour from. GLES
/// uploads them as a float matrix (`ColorConversion`); the CPU renderer uses integer tables made
/// from them (`YCbCrTables`).
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

/// Fixed-point lookup tables for one (matrix, range): each term of the equations for each of the
/// 256 code values, scaled by 2^16 and rounded, so a pixel is five lookups, four adds and a shift.
/// The rounding of the whole sum to the nearest level is folded into the luma table; the tables'
/// own rounding adds at most 1.5 / 65536 of a level.
final class YCbCrTables: Sendable {
    static let shift: Int32 = 16
    let y: [Int32], rCr: [Int32], gCb: [Int32], gCr: [Int32], bCb: [Int32]

    init(_ e: YCbCrEquations) {
        let one = Double(1 << Self.shift)
        func table(_ f: (Double) -> Double) -> [Int32] { (0..<256).map { Int32((f(Double($0)) * one).rounded()) } }
        y = table { (($0 - e.yOffset) * e.yScale + 0.5) }
        rCr = table { ($0 - 128) * e.rCr }
        gCb = table { ($0 - 128) * e.gCb }
        gCr = table { ($0 - 128) * e.gCr }
        bCb = table { ($0 - 128) * e.bCb }
    }

    /// Built once, on first use, for every matrix and range.
    private static let all: [Key: YCbCrTables] = Dictionary(uniqueKeysWithValues: ColorMatrix.allCases.flatMap { m in
        ColorRange.allCases.map { r in (Key(matrix: m, range: r), YCbCrTables(YCbCrEquations(matrix: m, range: r))) }
    })
    private struct Key: Hashable { var matrix: ColorMatrix; var range: ColorRange }

    static func tables(_ matrix: ColorMatrix, _ range: ColorRange) -> YCbCrTables { all[Key(matrix: matrix, range: range)]! }

    /// Converts `height` rows of `width` pixels of planar Y'CbCr 4:4:4 (three planes sharing
    /// `sourceStride`) into BGRA rows `destinationStride` bytes apart, opaque.
    func convert(y py: UnsafePointer<UInt8>, cb pb: UnsafePointer<UInt8>, cr pr: UnsafePointer<UInt8>, sourceStride: Int,
                 into destination: UnsafeMutableRawPointer, destinationStride: Int, width: Int, height: Int) {
        y.withUnsafeBufferPointer { ty in
        rCr.withUnsafeBufferPointer { trv in
        gCb.withUnsafeBufferPointer { tgu in
        gCr.withUnsafeBufferPointer { tgv in
        bCb.withUnsafeBufferPointer { tbu in
            let s = Self.shift
            @inline(__always) func level(_ v: Int32) -> UInt32 { UInt32(min(max(v >> s, 0), 255)) }
            for row in 0..<height {
                let sy = py + row * sourceStride, su = pb + row * sourceStride, sv = pr + row * sourceStride
                let out = (destination + row * destinationStride).bindMemory(to: UInt32.self, capacity: width)
                for x in 0..<width {
                    let l = ty[Int(sy[x])], u = Int(su[x]), v = Int(sv[x])
                    let r = level(l &+ trv[v])
                    let g = level(l &+ tgu[u] &+ tgv[v])
                    let b = level(l &+ tbu[u])
                    out[x] = b | g << 8 | r << 16 | 0xff00_0000
                }
            }
        }}}}}
    }
}
