import TesseraCore

/// Why drawing failed: the operation, and the EGL/GL error code where there is one.
public enum RenderError: Error, CustomStringConvertible, Equatable {
    case egl(operation: String, code: Int32)
    case gl(operation: String, code: UInt32)
    case shader(name: String, log: String)
    case cpu(operation: String)
    case badFrame(String)
    case unsupportedTarget(renderer: RendererKind, target: String)
    case font(String)

    public var description: String {
        switch self {
        case .egl(let op, let code): "\(op) failed (EGL error 0x\(String(code, radix: 16)))"
        case .gl(let op, let code): "\(op) failed (GL error 0x\(String(code, radix: 16)))"
        case .shader(let name, let log): "shader \(name) did not compile or link: \(log)"
        case .cpu(let op): "\(op) failed"
        case .badFrame(let why): "bad frame: \(why)"
        case .unsupportedTarget(let r, let t): "the \(r.rawValue) renderer cannot draw into \(t)"
        case .font(let why): why
        }
    }
}
