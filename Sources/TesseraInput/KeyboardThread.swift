import Foundation
import Synchronization
import TesseraCore

/// The reading thread both keyboards run: started once, asked to stop, and waited for (up to two
/// seconds, since a read may be blocked until its poll times out).
final class KeyboardThread: Sendable {
    private let stopFlag = Atomic<Bool>(false)
    private let finished = Mutex(false)
    private let done = NSCondition()

    /// Whether `stop()` has been asked; the loop checks it between reads.
    var stopRequested: Bool { stopFlag.load(ordering: .relaxed) }
    private let failure = Mutex<SystemCallError?>(nil)
    /// Why the loop ended on its own (a read or poll that failed), if it did.
    var error: SystemCallError? { failure.withLock { $0 } }
    /// Records why the loop is ending.
    func fail(_ error: SystemCallError) { failure.withLock { $0 = error } }

    /// Runs `body` on a new thread named `name`.
    func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            body()
            done.lock(); finished.withLock { $0 = true }; done.broadcast(); done.unlock()
        }
        thread.name = name
        thread.start()
    }

    /// Asks the loop to end and waits for it.
    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        done.lock()
        let deadline = Date().addingTimeInterval(2)
        while !finished.withLock({ $0 }) && done.wait(until: deadline) {}
        done.unlock()
    }
}
