import Foundation
import Synchronization
import Testing
@testable import TesseraCore

/// Issue 15, item 5: one wrapper for raw system calls. A call a signal interrupts is made again;
/// any other failure names the call.
@Suite struct SystemCallTests {
    @Test func aCallInterruptedByASignalIsMadeAgain() throws {
        // A handler without SA_RESTART, so the poll below returns EINTR when the signal lands.
        let signo = SIGRTMIN() + 3
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        sigaction(signo, &action, nil)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let reader = fds[0]
        let calls = Atomic<Int>(0)
        let result = Mutex<Result<Int32, SystemCallError>?>(nil)
        let thread = Mutex<pthread_t?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            var set = sigset_t()
            sigemptyset(&set); sigaddset(&set, signo)
            pthread_sigmask(SIG_UNBLOCK, &set, nil) // threads may start with signals blocked
            thread.withLock { $0 = pthread_self() }
            var p = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
            let r = Result { () throws(SystemCallError) in try SystemCall.retrying("poll(pipe)") { calls.add(1, ordering: .relaxed); return poll(&p, 1, 10_000) } }
            result.withLock { $0 = r }
            done.signal()
        }.start()
        // Interrupt the poll a few times, then give it something to read.
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: 0.1)
            if let t = thread.withLock({ $0 }) { pthread_kill(t, signo) }
        }
        Thread.sleep(forTimeInterval: 0.1)
        #expect(write(fds[1], "x", 1) == 1)
        #expect(done.wait(timeout: .now() + 10) == .success)
        let r = try #require(result.withLock { $0 })
        #expect(try r.get() == 1, "poll saw the byte")
        #expect(calls.load(ordering: .relaxed) >= 2, "the interrupted poll was made again")
    }

    @Test func anyOtherFailureNamesTheCall() {
        var byte: UInt8 = 0
        #expect {
            try SystemCall.retrying("read(a closed descriptor)") { read(-1, &byte, 1) }
        } throws: { error in
            guard let e = error as? SystemCallError else { return false }
            return e.errno == EBADF && e.description.hasPrefix("read(a closed descriptor) failed: Bad file descriptor")
        }
    }
}

private func SIGRTMIN() -> Int32 { Int32(__libc_current_sigrtmin()) }
