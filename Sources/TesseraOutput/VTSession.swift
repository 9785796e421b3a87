import Foundation
import TesseraCore
import Synchronization
internal import CDRM

/// The virtual terminal the kiosk runs on, when it runs on one: VT_SETMODE VT_PROCESS so that a
/// switch away (Ctrl+Alt+Fn, another session) first asks us (SIGUSR1) and a switch back tells us
/// (SIGUSR2). DRMBackend then drops master and stops committing, and on return takes master again
/// and sets every mode anew. KD_GRAPHICS keeps the text console from drawing over the wall.
/// Everything is undone in deinit. nil where the controlling terminal is not a VT (ssh, systemd
/// service without TTYPath, tests).
final class VTSession {
    enum Request: Equatable { case release, acquire }

    private let fd: Int32
    let path: String

    init?(path: String = "/dev/tty") {
        guard let fd = try? SystemCall.retrying("open(\(path))", { open(path, O_RDWR | O_CLOEXEC | O_NOCTTY) }) else { return nil }
        guard tessera_vt_is_vt(fd) != 0 else { close(fd); return nil }
        VTSignals.release.store(false, ordering: .relaxed)
        VTSignals.acquire.store(false, ordering: .relaxed)
        signal(SIGUSR1) { _ in VTSignals.release.store(true, ordering: .releasing) }
        signal(SIGUSR2) { _ in VTSignals.acquire.store(true, ordering: .releasing) }
        guard tessera_vt_set_process(fd, SIGUSR1, SIGUSR2) == 0 else {
            signal(SIGUSR1, SIG_DFL); signal(SIGUSR2, SIG_DFL); close(fd)
            return nil
        }
        _ = tessera_kd_set_graphics(fd, 1)
        self.fd = fd; self.path = path
    }

    deinit {
        _ = tessera_kd_set_graphics(fd, 0)
        _ = tessera_vt_set_auto(fd)
        signal(SIGUSR1, SIG_DFL); signal(SIGUSR2, SIG_DFL)
        close(fd)
    }

    /// The switch the kernel asked for since the last call, if any (release first).
    func pending() -> Request? {
        if VTSignals.release.exchange(false, ordering: .acquiring) { return .release }
        if VTSignals.acquire.exchange(false, ordering: .acquiring) { return .acquire }
        return nil
    }

    /// VT_RELDISP 1: we let go (master dropped); the switch may happen.
    func allowRelease() { _ = tessera_vt_release(fd) }

    /// VT_RELDISP VT_ACKACQ: we have the VT again.
    func acknowledgeAcquire() { _ = tessera_vt_ack_acquire(fd) }
}

/// Set by the signal handlers (which cannot capture), read on the render thread.
enum VTSignals {
    static let release = Atomic<Bool>(false)
    static let acquire = Atomic<Bool>(false)
}
