import Foundation
@testable import TesseraKiosk
import Testing

@Suite struct SystemdNotifyTests {
    @Test func sendsDatagramsToTheNotifySocketAndHalvesTheWatchdog() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd); unlink(path) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)

        let notify = SystemdNotify(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "15000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(notify.watchdogInterval == .milliseconds(7500))
        #expect(notify.send("READY=1"))
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = recv(fd, &buffer, buffer.count, 0)
        #expect(String(decoding: buffer.prefix(max(0, n)), as: UTF8.self) == "READY=1")

        // Not under systemd: nothing is sent and nothing fails.
        let none = SystemdNotify(environment: [:])
        #expect(!none.isActive && none.watchdogInterval == nil && !none.send("READY=1"))
        // The watchdog belongs to another process: not ours to feed.
        #expect(SystemdNotify(environment: ["WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
    }
}

/// Found by `make e2e-boot`: the watchdog's grace for an output's first frame counted from the
/// process's start, so a wall whose renderer took over 30 s to set up (GLES on llvmpipe in a slow
/// VM; READY came at 75 s) was killed by the watchdog at every start. It counts from READY now.
@Suite struct WatchdogGraceTests {
    @Test func theFirstFrameIsAwaitedFromReadyNotFromStart() {
        var slow = OutputFigures(id: "main")
        #expect(Watchdog.outputsAlive([slow], now: 80, readyAt: 75), "5 s after READY, no frame yet: fine")
        #expect(Watchdog.outputsAlive([slow], now: 130, readyAt: 75))
        #expect(!Watchdog.outputsAlive([slow], now: 140, readyAt: 75), "over 60 s after READY without a frame")
        slow.lastPresentAt = 131
        #expect(Watchdog.outputsAlive([slow], now: 140, readyAt: 75))
        #expect(!Watchdog.outputsAlive([slow], now: 142, readyAt: 75), "presented, then nothing for over 10 s")
    }
}
