import Foundation
import Synchronization
import Testing
import TesseraCore

/// Issue 15, item 5: one worker-thread type for every thread Tessera starts.
@Suite struct WorkerThreadTests {
    @Test func aStopEndsASleepingBodyAndJoinSeesIt() async throws {
        let worker = WorkerThread(name: "test sleeper")
        let rounds = Atomic<Int>(0)
        worker.start {
            while worker.sleep(for: .seconds(60)) { rounds.add(1, ordering: .relaxed) }
        }
        #expect(!worker.isFinished)
        worker.requestStop()
        #expect(worker.join(timeout: .seconds(10)), "the sleep ends at the stop, not after 60 s")
        #expect(worker.isFinished)
        #expect(rounds.load(ordering: .relaxed) == 0)
    }

    @Test func joinGivesUpAfterItsBound() async throws {
        let worker = WorkerThread(name: "test stubborn")
        let release = Atomic<Bool>(false)
        worker.start { while !release.load(ordering: .relaxed) { usleep(1000) } }
        worker.requestStop()
        #expect(!worker.join(timeout: .milliseconds(20)), "the body ignores the stop; join returns false at its bound")
        release.store(true, ordering: .relaxed)
        #expect(worker.join(timeout: .seconds(10)))
    }

    @Test func joinWithoutStartReturnsFalse() {
        #expect(!WorkerThread(name: "never").join(timeout: .seconds(1)))
    }

    @Test func setupRunsOnTheThreadAndItsErrorIsThrown() async throws {
        struct Refused: Error {}
        let failing = WorkerThread(name: "test setup fails")
        #expect(throws: Refused.self) { try failing.start(setup: { () throws -> Int in throw Refused() }) { _ in } }
        #expect(failing.join(timeout: .seconds(10)))

        // Setup and body run on one thread, not the caller's (an EGL context is bound to its thread).
        let worker = WorkerThread(name: "test setup")
        let seen = Mutex<(setup: UInt, body: UInt)>((0, 0))
        try worker.start(setup: { () -> UInt in UInt(pthread_self()) }) { setupThread in
            seen.withLock { $0 = (setupThread, UInt(pthread_self())) }
            while worker.sleep(for: .seconds(60)) {}
        }
        #expect(worker.stop(timeout: .seconds(10)))
        let threads = seen.withLock { $0 }
        #expect(threads.setup == threads.body)
        #expect(threads.setup != UInt(pthread_self()))
    }
}
