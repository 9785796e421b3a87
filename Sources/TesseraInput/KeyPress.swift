import TesseraCore
/// One key going down, as a keyboard reports it: the keysym name (xkbcommon spelling, such as
/// "Page_Down", "1", "s" or "S") and the modifiers held.
public struct KeyPress: Hashable, Sendable, CustomStringConvertible {
    public var keysym: String
    public var ctrl: Bool
    public var alt: Bool
    public var shift: Bool
    public var logo: Bool

    public init(keysym: String, ctrl: Bool = false, alt: Bool = false, shift: Bool = false, logo: Bool = false) {
        self.keysym = keysym; self.ctrl = ctrl; self.alt = alt; self.shift = shift; self.logo = logo
    }

    public var description: String {
        (ctrl ? "Ctrl+" : "") + (alt ? "Alt+" : "") + (shift ? "Shift+" : "") + (logo ? "Super+" : "") + keysym
    }
}

/// A source of key presses: libinput on the kiosk, the terminal in development, tests.
/// `start` calls `handler` on the source's own thread for each press until `stop`.
public protocol KeyboardSource: AnyObject, Sendable {
    /// Who is reading, for logs ("libinput seat0", "terminal").
    var name: String { get }
    func start(_ handler: @escaping @Sendable (KeyPress) -> Void) throws(InputError)
    func stop()
    /// Why reading stopped on its own (a poll or read that failed), if it did: shortcuts are dead.
    var failure: SystemCallError? { get }
}

extension KeyboardSource {
    public var failure: SystemCallError? { nil }
}

public enum InputError: Error, CustomStringConvertible, Sendable {
    /// A system call failed; `errno` text included.
    case system(operation: String, errno: Int32)
    /// The input stack is unusable here, with what to do about it.
    case unavailable(String)

    public var description: String {
        switch self {
        case .system(let op, let e): "\(op) failed: \(String(cString: strerror(e))) (errno \(e))"
        case .unavailable(let why): why
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
