import Foundation
import Logging
import TesseraCore
import TesseraOutput

/// Writes outputs' pictures to DIR/<output-id>.png on its own thread, so PNG encoding never holds
/// up a render thread. One slot per output: a newer picture replaces one not yet written.
public final class SnapshotWriter: @unchecked Sendable {
    // Unchecked: `pending`, `stopping` and `busy` are guarded by `wake`.
    public let directory: String
    private let wake = NSCondition()
    private var pending: [String: (MemoryBuffer, Rotation)] = [:]
    private var stopping = false
    private var busy = false
    /// When each output was last written: the one waiting longest goes next, so a slow encode of
    /// one output never starves another.
    private var written: [String: ContinuousClock.Instant] = [:]
    private var thread: Thread?
    private let metrics: KioskMetrics
    private let logger: Logger

    public init(directory: String, metrics: KioskMetrics, logger: Logger) throws {
        self.directory = directory; self.metrics = metrics; self.logger = logger
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public func path(for output: String) -> String { (directory as NSString).appendingPathComponent("\(output).png") }

    public func start() {
        let t = Thread { [self] in loop() }
        t.name = "snapshot writer"
        t.start()
        thread = t
    }

    /// Hands over a copy of an output's framebuffer (panel orientation). Called on its render thread.
    public func submit(output: String, picture: MemoryBuffer, rotation: Rotation) {
        wake.lock(); pending[output] = (picture, rotation); wake.broadcast(); wake.unlock()
    }

    /// Writes what is pending, then ends the thread.
    public func finish(timeout: TimeInterval = 30) {
        wake.lock(); stopping = true; wake.broadcast()
        let deadline = Date().addingTimeInterval(timeout)
        while (!pending.isEmpty || busy) && wake.wait(until: deadline) {}
        wake.unlock()
    }

    private func loop() {
        while true {
            wake.lock()
            while pending.isEmpty && !stopping { wake.wait() }
            if pending.isEmpty && stopping { wake.broadcast(); wake.unlock(); return }
            let never = ContinuousClock.Instant.now - .seconds(1_000_000)
            let id = pending.keys.min { (written[$0] ?? never, $0) < (written[$1] ?? never, $1) }!
            let item = pending.removeValue(forKey: id)!
            written[id] = .now
            busy = true
            wake.unlock()
            do {
                try PNGFile.write(item.0.unrotated(item.1), to: path(for: id))
                metrics.update(output: id) { $0.snapshotsWritten += 1 }
            } catch {
                logger.error("cannot write snapshot; check that the directory is writable and has space",
                             metadata: ["output": "\(id)", "path": "\(path(for: id))", "error": "\(error)"])
            }
            wake.lock(); busy = false; wake.broadcast(); wake.unlock()
        }
    }
}
