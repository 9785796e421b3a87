import Foundation
import Synchronization
import TesseraCore

/// Writes PNG files on background threads while the caller goes on drawing: `tessera preview`
/// draws its outputs one after another on one thread and encodes the pictures it has drawn on the
/// other cores meanwhile. At most `inFlight` pictures wait or encode at once (a 4K picture is 33 MB).
public final class PNGWriter: Sendable {
    private let queue = DispatchQueue(label: "tessera.png", attributes: .concurrent)
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let firstError = Mutex<OutputError?>(nil)

    public init(inFlight: Int) { slots = DispatchSemaphore(value: max(1, inFlight)) }

    /// Queues `picture` to be written to `path`; waits while `inFlight` writes are under way.
    public func write(_ picture: MemoryBuffer, to path: String) {
        slots.wait()
        queue.async(group: group) { [self] in
            defer { slots.signal() }
            do throws(OutputError) { try PNGFile.write(picture, to: path) } catch {
                firstError.withLock { if $0 == nil { $0 = error } }
            }
        }
    }

    /// Waits for every queued write; throws the first that failed.
    public func finish() throws(OutputError) {
        group.wait()
        if let error = firstError.withLock({ $0 }) { throw error }
    }
}
