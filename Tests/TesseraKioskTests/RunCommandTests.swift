import Foundation
import Testing

/// `tessera run` as a process: SIGTERM and SIGINT end it cleanly, with the last pictures written.
/// Needs the CLI built (`swift build`); `swift test` alone does not build executables.
@Suite struct RunCommandTests {
    static let binary = "\(repoRoot)/.build/debug/tessera"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "needs .build/debug/tessera: run `swift build` first"),
          arguments: [SIGTERM, SIGINT])
    func signalShutsDownCleanly(signal: Int32) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-run-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["run", "--layout", "\(repoRoot)/Layouts/single-1080p.json", "--backend", "headless",
                             "--snapshot-dir", dir, "--participants", "4", "--health", "off", "--keyboard", "none", "--fps", "10"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let png = "\(dir)/main.png"
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: png) && ContinuousClock.now < deadline && process.isRunning {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(FileManager.default.fileExists(atPath: png))
        try FileManager.default.removeItem(atPath: png)
        kill(process.processIdentifier, signal)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { process.terminate(); Issue.record("tessera run did not exit after signal \(signal)") }
        #expect(process.terminationStatus == 0)
        // The picture at exit is written again.
        #expect(FileManager.default.fileExists(atPath: png))
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("stopped"))
    }
}

/// `tessera probe` prints refusals and errors for URLs that may carry passwords: they come out masked.
@Suite struct ProbeRedactionTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: RunCommandTests.binary), "needs .build/debug/tessera: run `swift build` first"),
          arguments: [
            ["rtsp://admin:hunter2@10.0.0.7/cam?token=hunter2", "--allow-host", "127.0.0.1"],
            ["ftp://admin:hunter2@10.0.0.7/x?passphrase=hunter2"],
            ["srt://u:hunter2@127.0.0.1:9?passphrase=hunter2secret&mode=caller", "--seconds", "2", "--verbose"],
          ])
    func probeNeverPrintsAPassword(_ args: [String]) async throws {
        let result = try await ProcessRunner.run(RunCommandTests.binary, ["probe"] + args)
        let text = result.output
        #expect(result.status != 0)
        #expect(!text.isEmpty)
        #expect(!text.contains("hunter2"), "\(text)")
    }
}
