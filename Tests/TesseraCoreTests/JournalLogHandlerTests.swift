import Foundation
import Logging
import Synchronization
import Testing
@testable import TesseraCore

/// Found by `make e2e-boot`: under systemd every kiosk line was filed at "info", so
/// `journalctl -u tessera -p err` did not show "an output stopped presenting". Lines for the
/// journal carry their priority.
@Suite struct JournalLogHandlerTests {
    @Test func linesCarryTheirSyslogPriorityAndNoTimestamp() {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "tessera.kiosk") { JournalLogHandler(label: $0) { line in lines.withLock { $0.append(line) } } }
        logger.logLevel = .debug
        logger.error("an output stopped presenting; not feeding the watchdog", metadata: ["output": "main"])
        logger.warning("keyboard unavailable")
        logger.info("reading keys\nfrom two lines")
        logger.debug("details")
        #expect(lines.withLock { $0 } == [
            "<3>tessera.kiosk: an output stopped presenting; not feeding the watchdog output=main\n",
            "<4>tessera.kiosk: keyboard unavailable\n",
            "<6>tessera.kiosk: reading keys from two lines\n",
            "<7>tessera.kiosk: details\n",
        ])
    }

    @Test func standardErrorIsTheJournalOnlyWhenJournalStreamNamesIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        let same = "\(st.st_dev):\(st.st_ino)"
        #expect(JournalLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": same], descriptor: fd))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"], descriptor: fd))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: [:], descriptor: fd))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "garbage"], descriptor: fd))
    }
}
