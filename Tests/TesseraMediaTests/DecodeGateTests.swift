import Foundation
import Synchronization
import Testing
@testable import TesseraMedia

/// However many streams there are, at most `tokens` decode at once (DecodeGate): 250 runnable
/// decoders took the CPU from the render thread (0.4 output frames/s at 250 × 30 frames/s).
@Suite struct DecodeGateTests {
    final class Counts: Sendable {
        let inside = Atomic<Int>(0), most = Atomic<Int>(0), done = Atomic<Int>(0)
    }

    @Test(arguments: [1, 2, 3])
    func atMostTokensInsideAtOnce(tokens: Int) async throws {
        let gate = DecodeGate(tokens: tokens)
        let counts = Counts()
        let threads = 24
        for _ in 0..<threads {
            Thread {
                for _ in 0..<50 {
                    guard gate.enter(stopping: { false }) else { return }
                    let now = counts.inside.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
                    counts.most.max(now, ordering: .sequentiallyConsistent)
                    usleep(100)
                    counts.inside.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                    gate.leave()
                }
                counts.done.wrappingAdd(1, ordering: .sequentiallyConsistent)
            }.start()
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while counts.done.load(ordering: .sequentiallyConsistent) < threads, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(counts.done.load(ordering: .sequentiallyConsistent) == threads)
        #expect(counts.most.load(ordering: .sequentiallyConsistent) == tokens, "24 threads wanted in; \(tokens) may be")
    }

    /// Waiters get the token in the order they came, and one that leaves and comes back queues
    /// behind them (with a semaphore it took the token again at once, and streams decoded in bursts).
    @Test func waitersTakeTurnsInTheOrderTheyCame() async throws {
        let gate = DecodeGate(tokens: 1)
        #expect(gate.enter(stopping: { false }))
        let order = Mutex<[Int]>([])
        for n in 0..<5 {
            Thread {
                for _ in 0..<3 {
                    guard gate.enter(stopping: { false }) else { return }
                    order.withLock { $0.append(n) }
                    gate.leave()
                }
            }.start()
            // The next one queues only once this one waits.
            let deadline = ContinuousClock.now + .seconds(10)
            while gate.waiting < n + 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(gate.waiting == 5)
        gate.leave()
        let deadline = ContinuousClock.now + .seconds(30)
        while order.withLock({ $0.count }) < 15, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let o = order.withLock { $0 }
        // All five queued before the first token was given: they go in that order, and the first
        // to leave comes back behind the other four instead of taking the token again (later rounds
        // follow how fast each thread comes back, which the scheduler decides).
        #expect(Array(o.prefix(5)) == [0, 1, 2, 3, 4], "\(o)")
        #expect((0..<5).allSatisfy { n in o.count { $0 == n } == 3 }, "\(o)")
    }

    @Test func aWaiterThatIsStoppingGivesUp() async throws {
        let gate = DecodeGate(tokens: 1)
        #expect(gate.enter(stopping: { false }))
        let stop = Atomic<Bool>(false)
        let result = Mutex<Bool?>(nil)
        let waiter = Thread { let r = gate.enter(slice: .milliseconds(10), stopping: { stop.load(ordering: .relaxed) }); result.withLock { $0 = r } }
        waiter.start()
        try await Task.sleep(for: .milliseconds(100))
        #expect(result.withLock { $0 } == nil, "the token is taken: it waits")
        stop.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(10)
        while result.withLock({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(result.withLock { $0 } == false)
        gate.leave()
        #expect(gate.enter(stopping: { false }), "the token it never took is still there")
        // The gate goes away with its token taken (a stream stopped mid-decode): no trap.
    }
}
