import Dispatch
import Foundation
import Synchronization

/// At most `tokens` streams decode at the same moment (one per core by default), however many
/// streams there are: a stream holds a token only for one packet's `avcodec_send_packet` and
/// `avcodec_receive_frame`, never while it reads, waits for its pace or hands a picture over.
///
/// Why: the kernel shares the CPU among runnable threads as equals, and 250 decode threads behind
/// their schedule are 250 runnable threads against one render thread. Measured at 250 × 320x180@30
/// on 2 cores without the gate, the render thread got its 1/251 share: 0.4 output frames/s, 98.7%
/// of refreshes missed, with or without load shedding (shedding only lightens what is drawn). With
/// the gate at most `tokens` decoders are runnable, the rest wait asleep, and the render thread, the
/// health server and signaling keep their place whatever the stream count. Lowering the decoders'
/// priority instead (SCHED_IDLE) was tried and rejected: a decoder preempted while holding one of
/// glibc's malloc arena locks stalled everyone else who allocates (99 of 250 threads were waiting
/// on `main_arena`), the render thread and the thread that frees pictures among them.
///
/// Tokens go to waiters in the order they came, handed over directly by the stream that leaves: a
/// stream that decoded one packet queues behind every stream already waiting, so under overload
/// the streams take turns, one packet each, and their pictures come evenly. A semaphore instead let
/// the stream that had just decoded take a token again before the woken waiter ran: streams decoded
/// in bursts, the renderer saw only the last picture of each burst (the rest superseded in the
/// mailbox), and the others fell behind meanwhile (BENCHMARKS.md, issue 16). When tokens are free,
/// taking one is one uncontended lock.
final class DecodeGate: Sendable {
    private struct State {
        var free: Int
        /// Waiters, oldest first; each is woken with its token already taken for it.
        var queue: [Waiter] = []
    }
    private final class Waiter: Sendable {
        let woken = DispatchSemaphore(value: 0)
    }
    private let state: Mutex<State>

    init(tokens: Int = ProcessInfo.processInfo.activeProcessorCount) {
        state = Mutex(State(free: max(1, tokens)))
    }

    /// Takes a token, waiting in slices of `slice` so the caller can notice it should stop;
    /// false when `stopping` said so first.
    func enter(slice: DispatchTimeInterval = .milliseconds(100), stopping: () -> Bool) -> Bool {
        let waiter: Waiter? = state.withLock { s in
            if s.free > 0 && s.queue.isEmpty { s.free -= 1; return nil }
            let w = Waiter()
            s.queue.append(w)
            return w
        }
        guard let waiter else { return true }
        while waiter.woken.wait(timeout: .now() + slice) == .timedOut {
            guard stopping() else { continue }
            let stillQueued = state.withLock { s in
                guard let i = s.queue.firstIndex(where: { $0 === waiter }) else { return false }
                s.queue.remove(at: i)
                return true
            }
            // Handed a token between the timeout and the lock: give it on.
            if !stillQueued { waiter.woken.wait(); leave() }
            return false
        }
        return true
    }

    /// Streams waiting for a token (tests).
    var waiting: Int { state.withLock { $0.queue.count } }

    /// Gives the token back: straight to the oldest waiter, if any.
    func leave() {
        let next: Waiter? = state.withLock { s in
            if s.queue.isEmpty { s.free += 1; return nil }
            return s.queue.removeFirst()
        }
        next?.woken.signal()
    }
}
