import Foundation
import Logging
import ServiceLifecycle
import TesseraCore
import TesseraMedia

/// Hands malloc's free pages back to the system once a minute (`Malloc.trim()`).
///
/// glibc keeps memory that was freed for reuse, and a page of it that was written stays resident
/// until trimmed: with streams reopening and scenes changing all day, resident memory crept up
/// while malloc's bytes in use stayed flat (+5.5% in 15 minutes of churn, RELIABILITY.md). The
/// trim walks each arena under its lock (about a millisecond for a 64-stream wall), on this task,
/// not on a render or decode thread.
struct MemoryUpkeep: Service {
    static let period: Duration = .seconds(60)
    let logger: Logger

    func run() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.period) }
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            let before = Self.residentBytes(), start = ContinuousClock.now
            Malloc.trim()
            let took = ContinuousClock.now - start
            if let before, let after = Self.residentBytes() {
                logger.debug("malloc trim", metadata: ["returned_mib": "\((before - after) >> 20)", "ms": "\(String(format: "%.1f", took.seconds * 1000))"])
            }
        }
    }

    /// VmRSS from /proc/self/statm (pages × page size); nil when it cannot be read.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: Int(sysconf(Int32(_SC_PAGESIZE))))
        return overflow ? nil : bytes
    }
}
