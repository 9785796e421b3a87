internal import CFFmpeg
import Foundation
import TesseraCore

/// Routes libav*'s own messages (which otherwise go straight to standard error) to a `MediaLog`.
/// Process-wide, as FFmpeg's log callback is: the last engine or command to install wins.
enum FFmpegLog {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var target: MediaLog?

    /// Installs `log` for warnings and errors from FFmpeg (debug: everything from `info` up).
    static func install(_ log: MediaLog) {
        lock.lock(); target = log; lock.unlock()
        let level: Int32 = log.minimum <= .debug ? 32 /* AV_LOG_INFO */ : 16 /* AV_LOG_ERROR */
        tessera_log_install({ level, line in
            guard let line else { return }
            FFmpegLog.forward(level, String(cString: line))
        }, level)
    }

    /// Keeps FFmpeg off standard error when no engine or command installed a log yet.
    static func installIfNone() {
        lock.lock(); let none = target == nil; lock.unlock()
        if none { install(.discard) }
    }

    private static func forward(_ avLevel: Int32, _ text: String) {
        lock.lock(); let log = target; lock.unlock()
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let log, !trimmed.isEmpty else { return }
        let level: MediaLog.Level = avLevel <= 16 ? .warning : avLevel <= 24 ? .info : .debug
        // FFmpeg repeats URLs (with their credentials) in its messages; MediaLog masks them.
        log(level, "ffmpeg: " + trimmed)
    }
}
