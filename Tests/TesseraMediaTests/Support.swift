import Foundation
import Logging
import Synchronization
import TesseraCore
@testable import TesseraMedia
@testable import TesseraTestMedia

/// Loopback UDP ports for one test run: a random base, so parallel runs on one machine rarely meet,
/// below Linux's ephemeral range (32768–60999): any process's outgoing socket may hold a port
/// there, and a wall binding it then fails with "Address already in use" (seen once).
enum Ports {
    nonisolated(unsafe) private static var next = Int.random(in: 10_000...31_000) & ~0xff
    private static let lock = NSLock()
    static func take(_ n: Int = 1) -> Int {
        lock.lock(); defer { lock.unlock() }
        defer { next += n }
        return next
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
func wait(upTo timeout: Duration, _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return condition()
}

/// Resident memory of this process (VmRSS), in bytes.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
}

/// A live UDP publisher on a loopback port, and the request that opens it.
struct LiveStream {
    var participant: Int
    var port: Int
    var publisher: TestPublisher
    var id: StreamID { StreamID(ParticipantID("p\(participant)")) }
    var request: StreamRequest { StreamRequest(id: id, url: "udp://127.0.0.1:\(port)", origin: .network) }

    /// Small pictures and a short GOP: many of these run at once on two shared cores.
    static func start(participant: Int, port: Int = Ports.take(), size: Size = Size(width: 160, height: 90), fps: Int = 15) -> LiveStream {
        var o = TestSourceOptions()
        o.participant = participant; o.size = size; o.fps = fps; o.gop = fps / 2
        let p = TestPublisher(url: "udp://127.0.0.1:\(port)", options: o)
        p.start()
        return LiveStream(participant: participant, port: port, publisher: p)
    }

    func restart() -> LiveStream { LiveStream.start(participant: participant, port: port, size: publisher.options.size, fps: publisher.options.fps) }
}

/// Test timings: short enough to keep the suite quick, long enough for a loaded 2-core machine.
func testConfiguration() -> MediaConfiguration {
    var c = MediaConfiguration()
    c.stallAfter = .milliseconds(700)
    c.offlineAfter = .milliseconds(1500)
    c.openTimeout = .seconds(3)
    c.backoffInitial = .milliseconds(100)
    c.backoffMax = .milliseconds(400)
    c.closeGrace = .zero
    c.hardwareDecode = .off
    return c
}

/// Collects what a logger logs, with metadata and the thread it was logged on (and lets a test
/// print the lines when it fails).
final class LogLines: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
        /// pthread_self() of the logging thread.
        var thread: UInt
        var stream: String? { metadata["stream"].map { "\($0)" } }
    }
    private let store = Mutex<[Line]>([])
    private let level: Logger.Level

    init(level: Logger.Level = .info) { self.level = level }

    /// A logger whose lines end up here.
    var logger: Logger {
        var l = Logger(label: "test.media") { _ in Handler(lines: self) }
        l.logLevel = level
        return l
    }
    var records: [Line] { store.withLock { $0 } }
    /// "level: message key=value…" per line.
    var all: [String] {
        records.map { r in
            "\(r.level): \(r.message)" + r.metadata.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        }
    }

    fileprivate func append(_ line: Line) { store.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let lines: LogLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lines.append(Line(level: event.level, message: "\(event.message)",
                              metadata: metadata.merging(event.metadata ?? [:]) { _, new in new },
                              thread: UInt(pthread_self())))
        }
    }
}

/// A temporary folder removed at deinit.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "tessera-media-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// glibc's malloc_trim (malloc.h is not in the Glibc module): returns freed arena pages to the system.
@_silgen_name("malloc_trim") func malloc_trim(_ pad: Int) -> Int32
