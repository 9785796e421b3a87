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

/// `Logger.redacting`, which Media puts around whatever logger it is given (issue 15: the masking
/// MediaLog did for every Media line): messages and metadata come out masked, and a logger that
/// already redacts is not wrapped twice.
@Suite struct RedactingLoggerTests {
    @Test func aRedactingLoggerMasksMessagesAndMetadataAndWrapsOnce() throws {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "tessera.media") { JournalLogHandler(label: $0) { line in lines.withLock { $0.append(line) } } }.redacting
        logger[metadataKey: "stream"] = "p1"
        logger.warning("open failed for srt://h:1?passphrase=hunter2", metadata: ["url": "rtsp://admin:hunter2@cam/x"])
        #expect(lines.withLock { $0 } == ["<4>tessera.media: open failed for srt://h:1?passphrase=*** stream=p1 url=rtsp://***@cam/x\n"])
        let outer = try #require(logger.redacting.handler as? RedactingLogHandler)
        #expect(!(outer.wrapped is RedactingLogHandler))
    }
}
