import Foundation
import TesseraCore

/// Synthetic pictures: placeholder participants for `tessera preview`, colour bars for tests.
public enum Placeholder {
    /// A YUV 4:2:0 picture (BT.709, limited range) in a colour of its own for `number`, with the
    /// number in large figures, so an installer can tell the tiles apart.
    public static func participant(number: Int, size: Size = Size(width: 320, height: 180), text: TextCache) -> PlanarFrame {
        let (r, g, b) = hsv(hue: Double(number) * 137.508, saturation: 0.55, value: 0.72)
        let (y, u, v) = yuv709Limited(r: r, g: g, b: b)
        let w = size.width, h = size.height, cw = (w + 1) / 2, ch = (h + 1) / 2
        var planeY = [UInt8](repeating: y, count: w * h)
        var planeU = [UInt8](repeating: u, count: cw * ch)
        var planeV = [UInt8](repeating: v, count: cw * ch)
        let digits = text.image(String(number), size: max(8, h * 6 / 10))
        let ox = (w - digits.width) / 2, oy = (h - digits.height) / 2
        for row in 0..<digits.height {
            for col in 0..<digits.width {
                let x = ox + col, yy = oy + row
                guard x >= 0, x < w, yy >= 0, yy < h else { continue }
                let c = Int(digits.coverage[row * digits.width + col])
                if c == 0 { continue }
                let i = yy * w + x
                planeY[i] = UInt8((235 * c + Int(planeY[i]) * (255 - c)) / 255)
                let ci = (yy / 2) * cw + x / 2
                planeU[ci] = UInt8((128 * c + Int(planeU[ci]) * (255 - c)) / 255)
                planeV[ci] = UInt8((128 * c + Int(planeV[ci]) * (255 - c)) / 255)
            }
        }
        return PlanarFrame(size: size, format: .yuv420p, matrix: .bt709, range: .limited, planes: [planeY, planeU, planeV])
    }

    /// The seven 75% colour bars (white, yellow, cyan, green, magenta, red, blue) as RGB.
    public static let barColors: [(UInt8, UInt8, UInt8)] = [
        (191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191),
    ]

    /// Vertical colour bars encoded with `matrix` and `range` in `format` (yuv420p or nv12): the
    /// renderers' colour conversion is checked against `barColors` at each bar's centre.
    public static func colorBars(size: Size, format: PixelFormat, matrix: ColorMatrix, range: ColorRange) -> PlanarFrame {
        precondition(format != .bgra, "colour bars test YUV conversion")
        let w = size.width, h = size.height, cw = (w + 1) / 2, ch = (h + 1) / 2
        let codes = barColors.map { encode(r: $0.0, g: $0.1, b: $0.2, matrix: matrix, range: range) }
        func bar(_ x: Int) -> Int { min(barColors.count - 1, x * barColors.count / w) }
        var planeY = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { planeY[y * w + x] = codes[bar(x)].y } }
        var u = [UInt8](repeating: 0, count: cw * ch), v = u
        for y in 0..<ch { for x in 0..<cw { let c = codes[bar(min(w - 1, x * 2))]; u[y * cw + x] = c.u; v[y * cw + x] = c.v } }
        if format == .nv12 {
            var uv = [UInt8](repeating: 0, count: cw * ch * 2)
            for i in 0..<(cw * ch) { uv[2 * i] = u[i]; uv[2 * i + 1] = v[i] }
            return PlanarFrame(size: size, format: .nv12, matrix: matrix, range: range, planes: [planeY, uv])
        }
        return PlanarFrame(size: size, format: .yuv420p, matrix: matrix, range: range, planes: [planeY, u, v])
    }

    /// RGB → Y'CbCr with the given matrix and range (rounded), the inverse of what renderers do.
    public static func encode(r: UInt8, g: UInt8, b: UInt8, matrix: ColorMatrix, range: ColorRange) -> (y: UInt8, u: UInt8, v: UInt8) {
        let (kr, kb) = YCbCrEquations.weights(matrix)
        let R = Double(r) / 255, G = Double(g) / 255, B = Double(b) / 255
        let Y = kr * R + (1 - kr - kb) * G + kb * B
        let Cb = (B - Y) / (2 * (1 - kb)), Cr = (R - Y) / (2 * (1 - kr))
        func clamp(_ x: Double) -> UInt8 { UInt8(max(0, min(255, x.rounded()))) }
        if range == .limited {
            return (clamp(16 + 219 * Y), clamp(128 + 224 * Cb), clamp(128 + 224 * Cr))
        }
        return (clamp(255 * Y), clamp(128 + 255 * Cb), clamp(128 + 255 * Cr))
    }

    private static func yuv709Limited(r: UInt8, g: UInt8, b: UInt8) -> (UInt8, UInt8, UInt8) {
        let c = encode(r: r, g: g, b: b, matrix: .bt709, range: .limited)
        return (c.y, c.u, c.v)
    }

    private static func hsv(hue: Double, saturation s: Double, value v: Double) -> (UInt8, UInt8, UInt8) {
        let h = hue.truncatingRemainder(dividingBy: 360) / 60
        let c = v * s, x = c * (1 - abs(h.truncatingRemainder(dividingBy: 2) - 1)), m = v - c
        let (r, g, b): (Double, Double, Double) = switch Int(h) {
        case 0: (c, x, 0)
        case 1: (x, c, 0)
        case 2: (0, c, x)
        case 3: (0, x, c)
        case 4: (x, 0, c)
        default: (c, 0, x)
        }
        return (UInt8((r + m) * 255), UInt8((g + m) * 255), UInt8((b + m) * 255))
    }
}
