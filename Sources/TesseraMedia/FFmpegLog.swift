internal import CFFmpeg
import Foundation
import Synchronization
import TesseraCore

/// Routes libav*'s own messages (which otherwise go straight to standard error) to a `MediaLog`,
/// rate-limited per stream.
/// Process-wide, as FFmpeg's log callback is: the last engine or command to install wins.
///
/// FFmpeg logs on the thread that called it, and each stream has its own thread, so a message is
/// attributed to a stream through that thread's `FFmpegThreadScope` (messages from other
/// threads, e.g. a decoder's slice threads, share one bucket). Each scope lets a burst of
/// `burst` messages through, then `perMinute` a minute; what it drops is counted
/// (`StreamStats.ffmpegLogSuppressed`, `tessera_ffmpeg_log_suppressed_total` in /metrics) and
/// summed up in one line ("suppressed K messages") when the next message passes or the stream's
/// thread ends.
enum FFmpegLog {
    /// Where messages go, and the bucket of messages from threads without a scope.
    private static let state = Mutex<(target: MediaLog?, sharedBucket: LogBucket)>((nil, LogBucket()))

    /// Messages a stream may log at once before the rate limit applies.
    static let burst = 20
    /// Messages a stream may log per minute after its burst.
    static let perMinute = 10

    /// Installs `log` for warnings and errors from FFmpeg (debug: everything from `info` up).
    static func install(_ log: MediaLog) {
        state.withLock { $0.target = log }
        let level: Int32 = log.minimum <= .debug ? AV_LOG_INFO : AV_LOG_ERROR
        tessera_log_install({ level, line in
            guard let line else { return }
            FFmpegLog.forward(level, String(cString: line))
        }, level)
    }

    /// Keeps FFmpeg off standard error when no engine or command installed a log yet.
    static func installIfNone() {
        let none = state.withLock { $0.target == nil }
        if none { install(.discard) }
    }

    private static func forward(_ avLevel: Int32, _ text: String) {
        let log = state.withLock { $0.target }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let log, !trimmed.isEmpty else { return }
        let level: MediaLog.Level = avLevel <= 16 ? .warning : avLevel <= 24 ? .info : .debug
        guard level >= log.minimum else { return }
        let now = ContinuousClock.now
        let scope = FFmpegThreadScope.current
        let name = scope.map { "ffmpeg: stream \($0.stream): " } ?? "ffmpeg: "
        let passed: (Bool, Int)
        if let scope {
            passed = scope.bucket.take(at: now)
            if !passed.0 { scope.suppressed() }
        } else {
            passed = state.withLock { $0.sharedBucket.take(at: now) }
        }
        guard passed.0 else { return }
        if passed.1 > 0 { log(.warning, name + "suppressed \(passed.1) messages (more than \(burst) at once or \(perMinute) a minute)") }
        // FFmpeg repeats URLs (with their credentials) in its messages; MediaLog masks them.
        log(level, name + trimmed)
    }

    /// Ends a scope: the summary of what it suppressed since its last message.
    static func finish(_ scope: FFmpegThreadScope) {
        let n = scope.bucket.drainSuppressed()
        guard n > 0 else { return }
        let log = state.withLock { $0.target }
        log?(.warning, "ffmpeg: stream \(scope.stream): suppressed \(n) messages (more than \(burst) at once or \(perMinute) a minute)")
    }
}

/// A token bucket for log lines: `FFmpegLog.burst` at once, then `FFmpegLog.perMinute` a minute.
struct LogBucket {
    private var tokens = Double(FFmpegLog.burst)
    private var refilledAt: ContinuousClock.Instant?
    private var suppressedSinceLast = 0

    /// Whether a message may pass now, and how many were suppressed before it (to report).
    mutating func take(at now: ContinuousClock.Instant) -> (Bool, Int) {
        if let last = refilledAt {
            let minutes = (now - last).microseconds / 60e6
            tokens = min(Double(FFmpegLog.burst), tokens + minutes * Double(FFmpegLog.perMinute))
        }
        refilledAt = now
        guard tokens >= 1 else { suppressedSinceLast += 1; return (false, 0) }
        tokens -= 1
        return (true, drainSuppressed())
    }

    mutating func drainSuppressed() -> Int {
        defer { suppressedSinceLast = 0 }
        return suppressedSinceLast
    }
}

/// What FFmpeg's log callback knows about the thread it runs on: the stream it serves and the
/// stream's log bucket. Used only on its own thread.
final class FFmpegThreadScope {
    let stream: String
    var bucket = LogBucket()
    private let onSuppressed: () -> Void

    init(stream: String, onSuppressed: @escaping () -> Void) {
        self.stream = stream; self.onSuppressed = onSuppressed
    }

    func suppressed() { onSuppressed() }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// The scope of the calling thread, if it entered one.
    static var current: FFmpegThreadScope? {
        guard let p = pthread_getspecific(key) else { return nil }
        return Unmanaged<FFmpegThreadScope>.fromOpaque(p).takeUnretainedValue()
    }

    /// Runs `body` with this scope as the calling thread's; the previous one afterwards.
    func run<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        defer {
            pthread_setspecific(Self.key, previous)
            FFmpegLog.finish(self)
        }
        return try body()
    }
}
