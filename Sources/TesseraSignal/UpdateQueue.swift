import Foundation
import Synchronization

/// The queue behind `SignalClient.updates`: bounded, and lossless for what the Kiosk acts on.
/// Up to `capacity` updates wait as they are; once it is full, each new update is merged into the
/// newest waiting one (`RoomUpdate.merged(with:)`), so a consumer that falls behind gets fewer,
/// larger updates — the latest room and the net joins, leaves and stream changes — and memory
/// stays bounded whatever the backend sends.
final class UpdateQueue: Sendable {
    private struct State {
        var pending: [RoomUpdate] = []
        var waiters: [(id: UInt64, continuation: CheckedContinuation<RoomUpdate?, Never>)] = []
        var nextWaiterID: UInt64 = 0
        var finished = false
        var mergedCount = 0
    }
    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Updates merged into another because the queue was full.
    var merges: Int { state.withLock { $0.mergedCount } }

    func push(_ update: RoomUpdate) {
        let waiter = state.withLock { s -> CheckedContinuation<RoomUpdate?, Never>? in
            guard !s.finished else { return nil }
            if !s.waiters.isEmpty { return s.waiters.removeFirst().continuation }
            if s.pending.count >= capacity {
                s.pending[s.pending.count - 1] = s.pending[s.pending.count - 1].merged(with: update)
                s.mergedCount += 1
            } else {
                s.pending.append(update)
            }
            return nil
        }
        waiter?.resume(returning: update)
    }

    /// No more updates; waiting updates are still delivered, then `next()` returns nil.
    func finish() {
        let waiting = state.withLock { s in
            s.finished = true
            defer { s.waiters = [] }
            return s.waiters.map(\.continuation)
        }
        for w in waiting { w.resume(returning: nil) }
    }

    /// The oldest waiting update; nil once finished and drained, or when the caller is cancelled.
    func next() async -> RoomUpdate? {
        let id: UInt64 = state.withLock { s in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<RoomUpdate?, Never>) in
                // Resumed outside the lock: what to hand `c` now, or nothing while it waits.
                let now = state.withLock { s -> RoomUpdate?? in
                    if !s.pending.isEmpty { return .some(s.pending.removeFirst()) }
                    if s.finished || Task.isCancelled { return .some(nil) }
                    s.waiters.append((id, c))
                    return .none
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                s.waiters.firstIndex { $0.id == id }.map { s.waiters.remove(at: $0) }
            }
            waiter?.continuation.resume(returning: nil)
        }
    }
}
