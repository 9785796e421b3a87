import Foundation
import Synchronization
import TesseraCore

/// The single-slot frame mailbox between a stream's decode thread and the renderer: newest frame
/// wins, and the frame it replaces is released outside the lock. The lock is held only for a
/// pointer swap, never across FFmpeg calls.
final class FrameSlot: Sendable {
    private struct Slot {
        var frame: DecodedFrame?
        /// Whether the renderer took `frame` (true while empty).
        var taken = true
    }
    private let slot = Mutex(Slot())
    /// Set in lock-step mode (`MediaConfiguration.lockstepFiles`, `tessera bench compose`).
    let lockstep: LockstepGate?

    init(lockstep: Bool) { self.lockstep = lockstep ? LockstepGate() : nil }

    /// Render thread: the newest frame, now counted as taken.
    func take() -> DecodedFrame? {
        let f = slot.withLock { s -> DecodedFrame? in s.taken = true; return s.frame }
        lockstep?.taken()
        return f
    }

    /// The newest frame without taking it (tests, `probe`).
    var peek: DecodedFrame? { slot.withLock { $0.frame } }

    /// Whether the slot holds a frame the renderer has not taken yet.
    var hasUntakenFrame: Bool { slot.withLock { $0.frame != nil && !$0.taken } }

    /// Decode thread: puts `new` in the slot; true when it replaced a frame nobody took.
    func put(_ new: DecodedFrame) -> Bool {
        let (old, superseded) = slot.withLock { s -> (DecodedFrame?, Bool) in
            let old = s.frame
            let superseded = !s.taken && old != nil
            s.frame = new; s.taken = false
            return (old, superseded)
        }
        _ = old // released outside the lock
        return superseded
    }

    /// Empties the slot (the stream went offline).
    func clear() {
        let old = slot.withLock { s -> DecodedFrame? in
            let old = s.frame
            s.frame = nil; s.taken = true
            return old
        }
        _ = old
    }

    /// Lock-step only: blocks until the renderer took the last frame, or `timeout` seconds pass
    /// (false). Returns true at once when not in lock-step.
    func waitUntilTaken(timeout: Double) -> Bool {
        guard let lockstep else { return true }
        return lockstep.wait(until: Date().addingTimeInterval(timeout)) { slot.withLock { $0.taken || $0.frame == nil } }
    }
}

/// Lock-step mode of `tessera bench compose`: the decode thread waits until the renderer took the
/// last frame, so every output frame composes one new picture per stream at any decode speed.
final class LockstepGate: @unchecked Sendable {
    private let condition = NSCondition()

    /// Render thread: wakes a decoder waiting in `wait`.
    func taken() { condition.lock(); condition.broadcast(); condition.unlock() }

    /// Decode thread: waits until `isTaken()` or `deadline` (false).
    func wait(until deadline: Date, isTaken: () -> Bool) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while true {
            if isTaken() { return true }
            if !condition.wait(until: deadline) { return isTaken() }
        }
    }
}
