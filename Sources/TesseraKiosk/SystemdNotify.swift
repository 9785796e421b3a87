import Foundation
import TesseraCore

/// sd_notify without libsystemd: one datagram to `$NOTIFY_SOCKET` per message. Does nothing when
/// not started by systemd (no socket in the environment).
public struct SystemdNotify: Sendable {
    public let socketPath: String?
    /// How often systemd wants `WATCHDOG=1` (half its `WatchdogSec`), when it does.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let pidOK = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if pidOK, let usec = environment["WATCHDOG_USEC"].flatMap(Int.init), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { socketPath != nil }

    /// Sends `state` ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=…"); returns whether it went.
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        // An abstract socket is written with a leading '@' and starts with a NUL byte.
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                (try? SystemCall.retrying("sendto(NOTIFY_SOCKET)") { sendto(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL), sa, length) }) ?? -1
            }
        }
        return sent == bytes.count
    }
}
