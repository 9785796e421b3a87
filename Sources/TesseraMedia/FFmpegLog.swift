internal import CFFmpeg
import Foundation
import Logging
import Synchronization
import TesseraCore

/// Routes libav*'s own messages (which otherwise go straight to standard error) to swift-log,
/// rate-limited per stream. Process-wide, as FFmpeg's log callback is: the last engine or command
/// to install a logger wins.
///
/// A message is a stream's when FFmpeg logs it with one of the stream's contexts, on any thread:
/// the stream's demuxer (AVFormatContext) and decoder (AVCodecContext) carry the stream's token in
/// their `opaque` (`FFmpegLogScope.tag`), and a decoder's frame-threading copies share the main
/// context's `opaque` (libavcodec/pthread_frame.c copies the whole context), so the callback
/// finds the stream from `avcl` even on a decoder's slice or frame threads. Other messages logged
/// on a stream's own thread (its I/O and protocol contexts) are the stream's through that thread's
/// scope. A stream's messages go to its logger (metadata `stream`) through its bucket: a burst of
/// `burst` messages, then `perMinute` a minute; what it drops is counted
/// (`StreamStats.ffmpegLogSuppressed`, `tessera_ffmpeg_log_suppressed_total` in /metrics) and summed
/// up in one line ("suppressed K messages") when the next message passes or the stream's thread
/// ends. Messages of no stream share one bucket and the installed logger.
package enum FFmpegLog {
    /// The installed logger, and the bucket of messages that belong to no stream.
    private static let state = Mutex<(logger: Logger?, sharedBucket: LogBucket)>((nil, LogBucket()))
    /// The scopes whose thread is running, by token: the only values of `opaque` taken as a stream's.
    private static let scopes = Mutex<[UInt: FFmpegLogScope]>([:])

    /// Messages a stream may log at once before the rate limit applies.
    static let burst = 20
    /// Messages a stream may log per minute after its burst.
    static let perMinute = 10

    /// Installs `logger` for FFmpeg's errors (logged as warnings; at `debug`, also its warnings
    /// and information). Lines are masked (`Redact.text`): FFmpeg repeats URLs with credentials.
    static func install(_ logger: Logger) {
        state.withLock { $0.logger = logger }
        let level: Int32 = logger.logLevel <= .debug ? AV_LOG_INFO : AV_LOG_ERROR
        tessera_log_install({ level, token, line in
            guard let line else { return }
            FFmpegLog.forward(level, token, String(cString: line))
        }, level)
    }

    /// Keeps FFmpeg off standard error when no engine or command installed a logger yet.
    package static func installIfNone() {
        let none = state.withLock { $0.logger == nil }
        if none { install(.discarding("tessera.media")) }
    }

    /// The swift-log level of an FFmpeg level: errors are warnings (the stream goes on or recovers;
    /// Media's own line says when it does not), warnings are information, the rest debug.
    static func level(_ avLevel: Int32) -> Logger.Level {
        avLevel <= AV_LOG_ERROR ? .warning : avLevel <= AV_LOG_WARNING ? .info : .debug
    }

    private static func forward(_ avLevel: Int32, _ token: UInt, _ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return }
        let level = level(avLevel)
        let now = ContinuousClock.now
        if let scope = (token != 0 ? scopes.withLock { $0[token] } : nil) ?? FFmpegLogScope.current {
            scope.log(level, trimmed, at: now)
            return
        }
        let (logger, passed) = state.withLock { s -> (Logger?, (Bool, Int)) in
            guard let logger = s.logger, level >= logger.logLevel else { return (nil, (false, 0)) }
            return (logger, s.sharedBucket.take(at: now))
        }
        guard let logger, passed.0 else { return }
        if passed.1 > 0 { logger.warning("\(suppressedLine(passed.1))") }
        logger.log(level: level, "ffmpeg: \(Redact.text(trimmed))")
    }

    static func suppressedLine(_ n: Int) -> String {
        "ffmpeg: suppressed \(n) messages (more than \(burst) at once or \(perMinute) a minute)"
    }

    fileprivate static func register(_ scope: FFmpegLogScope) { scopes.withLock { $0[scope.token] = scope } }
    fileprivate static func unregister(_ scope: FFmpegLogScope) { scopes.withLock { $0[scope.token] = nil } }
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

/// One stream's share of FFmpeg's log: its logger (with `stream` metadata), its bucket, and the
/// token its FFmpeg contexts carry. Entered by the stream's thread for its whole life (`run`);
/// FFmpeg's callback uses it from the decoder's threads too, so the bucket has a lock.
package final class FFmpegLogScope: Sendable {
    let token: UInt
    let logger: Logger
    private let bucket = Mutex(LogBucket())
    private let onSuppressed: @Sendable () -> Void

    private static let nextToken = Atomic<UInt>(1)

    /// `logger` should carry the stream's metadata; `onSuppressed` is called for each message dropped.
    package init(logger: Logger, onSuppressed: @escaping @Sendable () -> Void = {}) {
        token = Self.nextToken.wrappingAdd(1, ordering: .relaxed).oldValue
        self.logger = logger; self.onSuppressed = onSuppressed
    }

    fileprivate func log(_ level: Logger.Level, _ text: String, at now: ContinuousClock.Instant) {
        guard level >= logger.logLevel else { return }
        let (passed, suppressedBefore) = bucket.withLock { $0.take(at: now) }
        guard passed else { onSuppressed(); return }
        if suppressedBefore > 0 { logger.warning("\(FFmpegLog.suppressedLine(suppressedBefore))") }
        logger.log(level: level, "ffmpeg: \(Redact.text(text))")
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// The scope of the calling thread, if it entered one.
    static var current: FFmpegLogScope? {
        guard let p = pthread_getspecific(key) else { return nil }
        return Unmanaged<FFmpegLogScope>.fromOpaque(p).takeUnretainedValue()
    }

    /// Runs `body` with this scope as the calling thread's (the previous one afterwards) and its
    /// token known to FFmpeg's callback; then logs what the bucket suppressed since its last line.
    /// Every context tagged with the token must be freed before `body` returns.
    package func run<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        FFmpegLog.register(self)
        defer {
            FFmpegLog.unregister(self)
            pthread_setspecific(Self.key, previous)
            let n = bucket.withLock { $0.drainSuppressed() }
            if n > 0 { logger.warning("\(FFmpegLog.suppressedLine(n))") }
        }
        return try body()
    }

    /// The calling thread's stream token for a context's `opaque` (nil: the thread has no scope).
    static var currentTag: UnsafeMutableRawPointer? {
        current.flatMap { UnsafeMutableRawPointer(bitPattern: $0.token) }
    }

    /// Marks a decoder made on the calling thread as its stream's: FFmpeg's messages about it,
    /// from any of its threads, then carry the stream.
    static func tag(_ ctx: UnsafeMutablePointer<AVCodecContext>) { ctx.pointee.opaque = currentTag }
    /// Marks a demuxer made on the calling thread as its stream's.
    static func tag(_ ctx: UnsafeMutablePointer<AVFormatContext>) { ctx.pointee.opaque = currentTag }
}
