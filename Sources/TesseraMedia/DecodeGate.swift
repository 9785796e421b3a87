import Dispatch
import Foundation

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
/// When tokens are free, taking one is an uncontended atomic; under overload a stream waits for
/// one decode of another. Streams past their pace catch up one at a time instead of all at once.
final class DecodeGate: Sendable {
    private let semaphore: DispatchSemaphore

    init(tokens: Int = ProcessInfo.processInfo.activeProcessorCount) {
        // Made empty and filled: libdispatch traps when a semaphore goes away below its initial
        // value, which a stream stopped between enter and leave would otherwise cause.
        semaphore = DispatchSemaphore(value: 0)
        for _ in 0..<max(1, tokens) { semaphore.signal() }
    }

    /// Takes a token, waiting in slices of `slice` so the caller can notice it should stop;
    /// false when `stopping` said so first.
    func enter(slice: DispatchTimeInterval = .milliseconds(100), stopping: () -> Bool) -> Bool {
        while semaphore.wait(timeout: .now() + slice) == .timedOut {
            if stopping() { return false }
        }
        return true
    }

    func leave() { semaphore.signal() }
}
