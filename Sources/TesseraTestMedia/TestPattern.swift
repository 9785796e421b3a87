import TesseraCore

/// The test source's synthetic picture: each participant a distinct colour with its number in big
/// block digits at the top left, the frame counter at the bottom left, and a bar that moves one
/// step a frame (so every frame differs and motion is visible). Drawn straight into YUV 4:2:0.
public enum TestPattern {
    /// Y, Cb, Cr (BT.709, limited range) of participant `n`'s background: hues a golden angle apart.
    public static func color(participant n: Int) -> (y: UInt8, cb: UInt8, cr: UInt8) {
        let h = (Double(n) * 0.618033988749895).truncatingRemainder(dividingBy: 1) * 6
        let s = 0.65, v = 0.8
        let c = v * s, x = c * (1 - abs(h.truncatingRemainder(dividingBy: 2) - 1)), m = v - c
        let (r, g, b): (Double, Double, Double) = switch Int(h) {
        case 0: (c, x, 0); case 1: (x, c, 0); case 2: (0, c, x)
        case 3: (0, x, c); case 4: (x, 0, c); default: (c, 0, x)
        }
        let (R, G, B) = (r + m, g + m, b + m)
        let y = 0.2126 * R + 0.7152 * G + 0.0722 * B
        let cb = (B - y) / 1.8556, cr = (R - y) / 1.5748
        return (UInt8(16 + 219 * y), UInt8(128 + 224 * cb), UInt8(128 + 224 * cr))
    }

    /// 3×5 block digits, one row of three bits per line, top to bottom.
    static let digits: [[UInt8]] = [
        [7, 5, 5, 5, 7], [2, 6, 2, 2, 7], [7, 1, 7, 4, 7], [7, 1, 7, 1, 7], [5, 5, 7, 1, 1],
        [7, 4, 7, 1, 7], [7, 4, 7, 5, 7], [7, 1, 1, 1, 1], [7, 5, 7, 5, 7], [7, 5, 7, 1, 7],
    ]

    /// Draws frame `frame` of participant `participant` into planes of a picture of `size`.
    /// `y`, `cb`, `cr` are the planes' base addresses with their strides.
    /// With `moving`, the background is a diagonal luma ramp scrolling 3 pixels a frame, chroma
    /// ramps drifting the other way, and per-pixel grain that changes every frame (about ±5 in
    /// Y, as a camera's sensor noise): no macroblock can be skipped or copied unchanged.
    package static func draw(size: Size, participant: Int, frame: Int64, moving: Bool = false,
                     y: UnsafeMutablePointer<UInt8>, yStride: Int,
                     cb: UnsafeMutablePointer<UInt8>, cr: UnsafeMutablePointer<UInt8>, cStride: Int) {
        let (Y, Cb, Cr) = color(participant: participant)
        let w = size.width, h = size.height, cw = (w + 1) / 2, ch = (h + 1) / 2
        if moving {
            let shift = Int(frame % 1024) * 3
            var seed = UInt32(truncatingIfNeeded: frame &* 2_654_435_761) | 1
            for row in 0..<h {
                let line = y + row * yStride
                for x in 0..<w {
                    seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5 // xorshift32
                    let ramp = (x + row + shift) & 127
                    let ramped = Int(Y) - 32 + (ramp < 64 ? ramp : 127 - ramp) + Int(seed & 15) - 8
                    line[x] = UInt8(clamping: min(235, max(16, ramped)))
                }
            }
            for row in 0..<ch {
                let b = cb + row * cStride, r = cr + row * cStride
                for x in 0..<cw {
                    let ramp = (x * 2 - row + 4096 - shift / 2) & 63
                    let d = (ramp < 32 ? ramp : 63 - ramp) - 16
                    b[x] = UInt8(clamping: Int(Cb) + d)
                    r[x] = UInt8(clamping: Int(Cr) - d)
                }
            }
        } else {
            for row in 0..<h { (y + row * yStride).update(repeating: Y, count: w) }
            for row in 0..<ch {
                (cb + row * cStride).update(repeating: Cb, count: cw)
                (cr + row * cStride).update(repeating: Cr, count: cw)
            }
        }
        func fillY(_ x0: Int, _ y0: Int, _ bw: Int, _ bh: Int, _ value: UInt8) {
            let xs = max(0, x0), xe = min(w, x0 + bw), ys = max(0, y0), ye = min(h, y0 + bh)
            guard xs < xe else { return }
            for row in ys..<max(ys, ye) { (y + row * yStride + xs).update(repeating: value, count: xe - xs) }
        }
        func text(_ s: String, x: Int, y: Int, scale: Int) {
            var cx = x
            for ch in s {
                guard let d = ch.wholeNumberValue else { cx += 4 * scale; continue }
                for (r, bits) in digits[d].enumerated() {
                    for c in 0..<3 where bits & (4 >> c) != 0 { fillY(cx + c * scale, y + r * scale, scale, scale, 235) }
                }
                cx += 4 * scale
            }
        }
        let big = max(2, h / 12), small = max(1, h / 30)
        // A dark panel behind the digits keeps them readable on every background.
        fillY(big / 2, big / 2, 4 * big * String(participant).count + big, 6 * big, 16)
        text(String(participant), x: big, y: big, scale: big)
        let counter = String(frame)
        fillY(small, h - 7 * small, 4 * small * counter.count + small, 6 * small, 16)
        text(counter, x: 2 * small, y: h - 6 * small, scale: small)
        let barW = max(2, w / 40)
        let travel = max(1, w - barW)
        fillY(Int(frame % Int64(travel)), h / 2, barW, h / 4, 235)
    }
}
