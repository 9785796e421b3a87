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

    /// The name reaches the kernel (top -H, ps -L, /proc/PID/task/TID/comm), cut to its 15 bytes:
    /// before, every thread Tessera started showed as "tessera".
    @Test func theNameReachesTheKernel() async throws {
        for (name, shown) in [("render wall", "render wall"), ("media p123456789012", "media p12345678")] {
            let worker = WorkerThread(name: name)
            let seen = Mutex<String?>(nil)
            worker.start {
                let comm = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
                seen.withLock { $0 = comm?.trimmingCharacters(in: .whitespacesAndNewlines) }
            }
            #expect(worker.join(timeout: .seconds(10)))
            #expect(seen.withLock { $0 } == shown)
        }
    }

    /// Pictures handed to `FrameRelease` are let go on its own thread, soon, in order, and none
    /// is kept: under load the dispatch-queue version fell behind and the wall's memory ran away.
    @Test func frameReleaseLetsGoOfEveryHandOff() async throws {
        final class Picture: Sendable {
            let gone: Box
            init(_ gone: Box) { self.gone = gone }
            deinit { gone.count.add(1, ordering: .relaxed) }
        }
        let gone = Box()
        let n = 20_000
        for _ in 0..<n { FrameRelease.later([Picture(gone)]) }
        let deadline = ContinuousClock.now + .seconds(30)
        while gone.count.load(ordering: .relaxed) < n, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(gone.count.load(ordering: .relaxed) == n)
    }

    /// Stream decoders run as background workers: nice 10 above the process, so the render thread
    /// wins the CPU when both want it; normal workers keep the process's value.
    @Test func backgroundWorkersRunAtAHigherNiceValue() async throws {
        let base = WorkerThread.currentNice
        for (priority, want) in [(WorkerThread.Priority.background, min(19, base + WorkerThread.Priority.backgroundNice)), (.normal, base)] {
            let worker = WorkerThread(name: "test nice", priority: priority)
            let seen = Mutex<Int32?>(nil)
            worker.start { seen.withLock { $0 = WorkerThread.currentNice } }
            #expect(worker.join(timeout: .seconds(10)))
            #expect(seen.withLock { $0 } == want, "\(priority)")
        }
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

/// A counter shared by reference (Atomic is not copyable).
private final class Box: Sendable {
    let count = Atomic<Int>(0)
}
