import Foundation

/// The queue behind `SignalClient.updates`: bounded, and lossless for what the Kiosk acts on.
/// Up to `capacity` updates wait as they are; once it is full, each new update is merged into the
/// newest waiting one (`RoomUpdate.merged(with:)`), so a consumer that falls behind gets fewer,
/// larger updates — the latest room and the net joins, leaves and stream changes — and memory
/// stays bounded whatever the backend sends.
final class UpdateQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let capacity: Int
    private var pending: [RoomUpdate] = []
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<RoomUpdate?, Never>)] = []
    private var nextWaiterID: UInt64 = 0
    private var finished = false
    private var mergedCount = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Updates merged into another because the queue was full.
    var merges: Int { lock.withLock { mergedCount } }

    func push(_ update: RoomUpdate) {
        lock.lock()
        guard !finished else { lock.unlock(); return }
        if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            lock.unlock()
            waiter.continuation.resume(returning: update)
            return
        }
        if pending.count >= capacity {
            pending[pending.count - 1] = pending[pending.count - 1].merged(with: update)
            mergedCount += 1
        } else {
            pending.append(update)
        }
        lock.unlock()
    }

    /// No more updates; waiting updates are still delivered, then `next()` returns nil.
    func finish() {
        lock.lock()
        finished = true
        let waiting = waiters
        waiters = []
        lock.unlock()
        for w in waiting { w.continuation.resume(returning: nil) }
    }

    /// The oldest waiting update; nil once finished and drained, or when the caller is cancelled.
    func next() async -> RoomUpdate? {
        let id: UInt64 = lock.withLock {
            nextWaiterID += 1
            return nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<RoomUpdate?, Never>) in
                lock.lock()
                if !pending.isEmpty {
                    let update = pending.removeFirst()
                    lock.unlock()
                    c.resume(returning: update)
                } else if finished || Task.isCancelled {
                    lock.unlock()
                    c.resume(returning: nil)
                } else {
                    waiters.append((id, c))
                    lock.unlock()
                }
            }
        } onCancel: {
            lock.lock()
            let index = waiters.firstIndex { $0.id == id }
            let waiter = index.map { waiters.remove(at: $0) }
            lock.unlock()
            waiter?.continuation.resume(returning: nil)
        }
    }
}
