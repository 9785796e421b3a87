import Foundation
import Logging
import TesseraCore
import TesseraOutput

/// Writes outputs' pictures to DIR/<output-id>.png on its own thread, so PNG encoding never holds
/// up a render thread. One slot per output: a newer picture replaces one not yet written.
public final class SnapshotWriter: @unchecked Sendable {
    // Unchecked: `pending`, `stopping` and `written` are guarded by `wake`.
    public let directory: String
    private let wake = NSCondition()
    private var pending: [String: (MemoryBuffer, Rotation)] = [:]
    private var stopping = false
    /// When each output was last written: the one waiting longest goes next, so a slow encode of
    /// one output never starves another.
    private var written: [String: ContinuousClock.Instant] = [:]
    private let worker = WorkerThread(name: "snapshot writer")
    private let metrics: KioskMetrics
    private let logger: Logger

    public init(directory: String, metrics: KioskMetrics, logger: Logger) throws {
        self.directory = directory; self.metrics = metrics; self.logger = logger
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public func path(for output: String) -> String { (directory as NSString).appendingPathComponent("\(output).png") }

    public func start() {
        worker.start { [self] in loop() }
    }

    /// Hands over a copy of an output's framebuffer (panel orientation). Called on its render thread.
    public func submit(output: String, picture: MemoryBuffer, rotation: Rotation) {
        wake.lock(); pending[output] = (picture, rotation); wake.broadcast(); wake.unlock()
    }

    /// Writes what is pending, then ends the thread; false if that took longer than `timeout`.
    @discardableResult
    public func finish(timeout: Duration = .seconds(30)) -> Bool {
        wake.lock(); stopping = true; wake.broadcast(); wake.unlock()
        worker.requestStop()
        return worker.join(timeout: timeout)
    }

    private func loop() {
        while true {
            wake.lock()
            while pending.isEmpty && !stopping { wake.wait() }
            if pending.isEmpty && stopping { wake.unlock(); return }
            let never = ContinuousClock.Instant.now - .seconds(1_000_000)
            let id = pending.keys.min { (written[$0] ?? never, $0) < (written[$1] ?? never, $1) }!
            let item = pending.removeValue(forKey: id)!
            written[id] = .now
            wake.unlock()
            do {
                try PNGFile.write(item.0.unrotated(item.1), to: path(for: id))
                metrics.update(output: id) { $0.snapshotsWritten += 1 }
            } catch {
                logger.error("cannot write snapshot; check that the directory is writable and has space",
                             metadata: ["output": "\(id)", "path": "\(path(for: id))", "error": "\(error)"])
            }
        }
    }
}
