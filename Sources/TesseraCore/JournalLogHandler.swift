import Foundation
import Logging
import Synchronization

/// Log lines for systemd's journal: when standard error is the journal's stream (systemd sets
/// `JOURNAL_STREAM` to its device and inode), each line starts with its syslog priority, `<3>` for
/// an error, `<4>` a warning, `<6>` information, and carries no timestamp of its own (journald
/// adds one). `journalctl -u tessera -p err` then shows the wall's errors, which a plain text
/// line would file at "info". Metadata follows the message as `key=value`.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JournalLogHandler.standardError) {
        self.label = label; self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The syslog priority of a level (RFC 5424: 2 critical … 7 debug).
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = "\(event.message)".replacingOccurrences(of: "\n", with: " ")
        write("<\(Self.priority(event.level))>\(label): \(text)\(fields.isEmpty ? "" : " " + fields)\n")
    }

    private static let lock = Mutex(())
    /// Writes one line to standard error in one call (lines from several threads never interleave).
    public static let standardError: @Sendable (String) -> Void = { line in
        lock.withLock { _ in
            let bytes = Array(line.utf8)
            _ = bytes.withUnsafeBufferPointer { Foundation.write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
    }

    /// Whether standard error is the journal's stream: `JOURNAL_STREAM` ("DEV:INODE") names the
    /// same file as descriptor 2 (a child whose stderr was redirected elsewhere inherits the
    /// variable but not the stream).
    public static func standardErrorIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment,
                                              descriptor: Int32 = STDERR_FILENO) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}
