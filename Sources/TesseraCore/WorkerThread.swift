import Foundation
import Synchronization

/// The one way Tessera runs work on a thread of its own (render threads, stream decoders, the
/// keyboards, the snapshot writer, test publishers): a named thread that is started once, asked to
/// stop from any thread, and joined with a bound. The body polls `isStopRequested` between units
/// of work, or sleeps with `sleep(until:)`, which `requestStop()` ends at once.
///
/// Blocking calls inside the body (a read, an FFmpeg call) are not interrupted by `requestStop()`:
/// the owner pairs it with its own interrupt (a poll timeout, FFmpeg's interrupt callback).
public final class WorkerThread: @unchecked Sendable {
    // Unchecked: `started` and `finished` are guarded by `condition`.
    /// The thread's name (shown by `top -H`, gdb, and in crash reports).
    public let name: String
    private let stackSize: Int?
    private let condition = NSCondition()
    private var started = false
    /// Atomic, so a render loop can check it every round without a lock.
    private let stopRequested = Atomic<Bool>(false)
    private var finished = false

    /// How a worker competes for the CPU.
    public enum Priority: Sendable, Hashable {
        /// The process's nice value.
        case normal
        /// `backgroundNice` above it: for the stream decoders, which must not take the CPU
        /// from the render threads. Threads the worker starts (FFmpeg's slice threads) inherit it.
        case background

        /// A nice value, not SCHED_IDLE: a SCHED_IDLE decoder preempted while holding one of
        /// glibc's malloc arena locks stalled every thread that allocates, the render thread too.
        public static let backgroundNice: Int32 = 10
    }

    /// How this thread competes for the CPU.
    public let priority: Priority

    /// `stackSize` in bytes; nil keeps Foundation's default (512 KiB for secondary threads).
    public init(name: String, stackSize: Int? = nil, priority: Priority = .normal) {
        self.name = name
        self.stackSize = stackSize
        self.priority = priority
    }

    /// The calling thread's nice value (Linux keeps one per thread).
    public static var currentNice: Int32 {
        errno = 0
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }

    /// Runs `body` on the new thread. Called once; a second call does nothing.
    public func start(_ body: @escaping @Sendable () -> Void) {
        condition.lock()
        guard !started else { condition.unlock(); return }
        started = true
        condition.unlock()
        let thread = Thread { [self] in
            Self.nameThisThread(name)
            if priority == .background {
                // On Linux, PRIO_PROCESS with 0 is the calling thread only. Raising one's own nice
                // value needs no privilege; if refused, the thread runs at the process's.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.currentNice + Priority.backgroundNice)
            }
            body()
            condition.lock(); finished = true; condition.broadcast(); condition.unlock()
        }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }

    /// Foundation on Linux does not pass `Thread.name` to the kernel, so every thread showed as
    /// "tessera" in top -H, ps -L and /proc. The kernel keeps 15 bytes of it; written through
    /// /proc (pthread_setname_np and prctl are not visible to Swift without _GNU_SOURCE).
    private static func nameThisThread(_ name: String) {
        var short = name
        while short.utf8.count > 15 { short.removeLast() }
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = short.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// Runs `setup` on the new thread and waits for it; then, on the same thread, runs `body` with
    /// what setup made. Throws what setup threw (the thread has then ended). For state that must be
    /// made on the thread that uses it, such as an EGL context.
    public func start<State>(setup: @escaping @Sendable () throws -> State,
                             _ body: @escaping @Sendable (State) -> Void) throws {
        let outcome = SetupOutcome()
        start {
            let made: State
            do { made = try setup() } catch { outcome.set(.failure(error)); return }
            outcome.set(.success(()))
            body(made)
        }
        try outcome.wait().get()
    }

    /// Asks the body to end; returns at once. Any thread, any number of times.
    public func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        condition.lock(); condition.broadcast(); condition.unlock()
    }

    /// Whether `requestStop()` has been called; the body checks it between units of work.
    public var isStopRequested: Bool { stopRequested.load(ordering: .relaxed) }

    /// Whether the body has returned (false before `start`).
    public var isFinished: Bool {
        condition.lock(); defer { condition.unlock() }
        return finished
    }

    /// Sleeps until `deadline` or until `requestStop()`; returns false when stopped. Call it on the
    /// worker's own thread.
    @discardableResult
    public func sleep(until deadline: ContinuousClock.Instant) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while !isStopRequested {
            let left = deadline - .now
            if left <= .zero { break }
            _ = condition.wait(until: Date().addingTimeInterval(Self.seconds(left)))
        }
        return !isStopRequested
    }

    /// `sleep(until: now + duration)`.
    @discardableResult
    public func sleep(for duration: Duration) -> Bool { sleep(until: .now + duration) }

    /// Waits until the body has returned; false if it has not within `timeout` (or was never
    /// started). Never call it from the worker's own thread.
    @discardableResult
    public func join(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Self.seconds(timeout))
        condition.lock(); defer { condition.unlock() }
        guard started else { return false }
        while !finished { if !condition.wait(until: deadline) { return finished } }
        return true
    }

    /// `requestStop()` then `join(timeout:)`.
    @discardableResult
    public func stop(timeout: Duration) -> Bool {
        requestStop()
        return join(timeout: timeout)
    }

    private static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) * 1e-18
    }
}

/// The hand-off from a worker's setup to the thread that started it.
private final class SetupOutcome: @unchecked Sendable {
    // Unchecked: `result` is guarded by `condition`.
    private let condition = NSCondition()
    private var result: Result<Void, any Error>?

    func set(_ r: Result<Void, any Error>) {
        condition.lock(); result = r; condition.broadcast(); condition.unlock()
    }

    func wait() -> Result<Void, any Error> {
        condition.lock(); defer { condition.unlock() }
        while result == nil { condition.wait() }
        return result!
    }
}
