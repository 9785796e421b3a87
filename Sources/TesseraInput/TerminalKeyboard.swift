import Foundation
import Synchronization
import TesseraCore

/// Keys from a terminal (development, or a serial console): puts a tty into raw mode while it
/// runs, and turns the bytes and escape sequences a VT100-style terminal sends into keysyms.
/// Also reads from a pipe (tests), where no terminal mode is touched.
public final class TerminalKeyboard: KeyboardSource, @unchecked Sendable {
    // Unchecked: `saved` is touched in start/stop only; the thread reads `fd` and `worker`.
    public let name: String
    private let fd: Int32
    private let worker: WorkerThread
    /// Why the reading loop ended on its own (a read or poll that failed), if it did.
    private let failed = Mutex<SystemCallError?>(nil)
    private var saved: termios?

    /// Reads `fd` (standard input by default). The caller keeps `fd` open until `stop` returns.
    public init(fd: Int32 = STDIN_FILENO) {
        self.fd = fd
        name = isatty(fd) == 1 ? "terminal" : "file descriptor \(fd)"
        worker = WorkerThread(name: "keyboard \(name)")
    }

    public func start(_ handler: @escaping @Sendable (KeyPress) -> Void) throws(InputError) {
        if isatty(fd) == 1 {
            var t = termios()
            guard tcgetattr(fd, &t) == 0 else { throw .system(operation: "tcgetattr", errno: errno) }
            saved = t
            // No echo, no line buffering; signals (Ctrl+C) still work.
            t.c_lflag &= ~tcflag_t(ICANON | ECHO)
            guard tcsetattr(fd, TCSANOW, &t) == 0 else { throw .system(operation: "tcsetattr", errno: errno) }
        }
        worker.start { [self] in readLoop(handler) }
    }

    public var failure: SystemCallError? { failed.withLock { $0 } }

    public func stop() {
        // A read may be blocked until its poll times out (100-200 ms).
        worker.stop(timeout: .seconds(2))
        if var t = saved { tcsetattr(fd, TCSANOW, &t); saved = nil }
    }

    private func readLoop(_ handler: @Sendable (KeyPress) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while !worker.isStopRequested {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r: Int32
            do throws(SystemCallError) { r = try SystemCall.retrying("poll(\(name))") { poll(&p, 1, 100) } } catch {
                failed.withLock { $0 = error }; return
            }
            if r == 0 {
                // A lone ESC with nothing after it within 100 ms is the Escape key.
                if !pending.isEmpty { for k in Self.parse(&pending, flush: true) { handler(k) } }
                continue
            }
            let n: Int
            do throws(SystemCallError) { n = try SystemCall.retrying("read(\(name))") { read(fd, &buffer, buffer.count) } } catch {
                failed.withLock { $0 = error }; return
            }
            if n == 0 { return } // end of input
            pending += buffer[0..<n]
            for k in Self.parse(&pending, flush: false) { handler(k) }
        }
    }

    /// Turns the bytes at the start of `bytes` into key presses, leaving an incomplete escape
    /// sequence there (unless `flush`).
    public static func parse(_ bytes: inout [UInt8], flush: Bool) -> [KeyPress] {
        var out: [KeyPress] = []
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x1b {
                // CSI (ESC [) and SS3 (ESC O) sequences: arrows, Home/End, Page Up/Down, F1–F4.
                guard i + 1 < bytes.count else {
                    if flush { out.append(KeyPress(keysym: "Escape")); i += 1; continue }
                    break
                }
                let kind = bytes[i + 1]
                if kind != UInt8(ascii: "[") && kind != UInt8(ascii: "O") {
                    if kind == 0x1b { out.append(KeyPress(keysym: "Escape")); i += 1; continue }
                    // ESC then a key: Alt+key.
                    if var k = single(kind) { k.alt = true; out.append(k) }
                    i += 2; continue
                }
                var j = i + 2
                while j < bytes.count, !(0x40...0x7e).contains(bytes[j]) { j += 1 }
                guard j < bytes.count else {
                    if flush { i = bytes.count }
                    break
                }
                let params = String(decoding: bytes[(i + 2)..<j], as: UTF8.self)
                if let k = sequence(final: bytes[j], params: params) { out.append(k) }
                i = j + 1
                continue
            }
            if let k = single(b) { out.append(k) }
            i += 1
        }
        bytes.removeFirst(i)
        return out
    }

    private static func single(_ b: UInt8) -> KeyPress? {
        switch b {
        case 0x0d, 0x0a: return KeyPress(keysym: "Return")
        case 0x09: return KeyPress(keysym: "Tab")
        case 0x7f, 0x08: return KeyPress(keysym: "BackSpace")
        case 0x20: return KeyPress(keysym: "space")
        case 0x01...0x1a: return KeyPress(keysym: String(UnicodeScalar(b + 0x60)), ctrl: true)
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"):
            return KeyPress(keysym: String(UnicodeScalar(b)))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return KeyPress(keysym: String(UnicodeScalar(b)), shift: true)
        default:
            return nil
        }
    }

    private static func sequence(final: UInt8, params: String) -> KeyPress? {
        // xterm: "1;2A" is Shift+Up; the second number is 1 + (shift 1, alt 2, ctrl 4).
        let parts = params.split(separator: ";").map(String.init)
        let mods = parts.count > 1 ? (Int(parts[1]) ?? 1) - 1 : 0
        func key(_ name: String) -> KeyPress {
            KeyPress(keysym: name, ctrl: mods & 4 != 0, alt: mods & 2 != 0, shift: mods & 1 != 0)
        }
        switch final {
        case UInt8(ascii: "A"): return key("Up")
        case UInt8(ascii: "B"): return key("Down")
        case UInt8(ascii: "C"): return key("Right")
        case UInt8(ascii: "D"): return key("Left")
        case UInt8(ascii: "H"): return key("Home")
        case UInt8(ascii: "F"): return key("End")
        case UInt8(ascii: "P"): return key("F1")
        case UInt8(ascii: "Q"): return key("F2")
        case UInt8(ascii: "R"): return key("F3")
        case UInt8(ascii: "S"): return key("F4")
        case UInt8(ascii: "~"):
            let names: [String: String] = ["1": "Home", "2": "Insert", "3": "Delete", "4": "End", "5": "Page_Up", "6": "Page_Down",
                                            "7": "Home", "8": "End", "15": "F5", "17": "F6", "18": "F7", "19": "F8",
                                            "20": "F9", "21": "F10", "23": "F11", "24": "F12"]
            return parts.first.flatMap { names[$0] }.map(key)
        default: return nil
        }
    }
}
