import Foundation
import TesseraMedia

/// The process's own resource figures for /metrics and soak runs: what malloc holds, descriptors, threads.
/// Read on the health server's thread when /metrics is scraped; each read lists /proc/self (a few µs).
struct ProcessFigures {
    var mallocInUse = 0
    var mallocFree = 0
    var openFDs = 0
    var threads = 0

    static func now() -> ProcessFigures {
        var f = ProcessFigures()
        f.mallocInUse = Malloc.bytesInUse
        f.mallocFree = Malloc.bytesFree
        f.openFDs = max(0, ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 1) - 1)  // less the one listing it
        f.threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
        return f
    }
}
