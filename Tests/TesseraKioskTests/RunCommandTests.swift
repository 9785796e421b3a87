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

/// `tessera run` takes its options from TESSERA_* variables (the unit's tessera.env): an empty one
/// counts as unset, the command line wins, a bad value is refused naming the variable, and values
/// (which may hold credentials) are never printed.
@Suite struct RunEnvironmentTests {
    static let enabled = FileManager.default.isExecutableFile(atPath: RunCommandTests.binary)
    static let base = ["run", "--layout", "\(repoRoot)/Layouts/single-1080p.json", "--backend", "headless", "--health", "off",
                       "--keyboard", "none", "--fps", "5", "--exit-after", "2.5"]

    @Test(.enabled(if: enabled, "needs .build/debug/tessera: run `swift build` first"))
    func localRoomFromTheEnvironment() async throws {
        let result = try await ProcessRunner.run(RunCommandTests.binary, Self.base, environment: [
            "TESSERA_SIGNAL_URL": "", "TESSERA_PARTICIPANTS": "3", "TESSERA_PROGRESS": "1", "TESSERA_RENDERER": "cpu",
            "TESSERA_STREAM_URL_TEMPLATE": "rtsp://admin:hunter2@127.0.0.1:9/cam{n}", "TESSERA_ALLOW_HOST": "127.0.0.1 ::1", "TESSERA_ALLOW_SCHEME": "udp rtp",
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("options from the environment: TESSERA_PARTICIPANTS, TESSERA_STREAM_URL_TEMPLATE, "
                                       + "TESSERA_RENDERER, TESSERA_ALLOW_SCHEME, TESSERA_ALLOW_HOST, TESSERA_PROGRESS"), "\(result.output)")
        #expect(result.output.contains("3 participants"), "\(result.output)")
        #expect(!result.output.contains("TESSERA_SIGNAL_URL"), "an empty variable counts as unset")
        #expect(!result.output.contains("hunter2"), "\(result.output)")
    }

    @Test(.enabled(if: enabled, "needs .build/debug/tessera: run `swift build` first"))
    func commandLineWins() async throws {
        let result = try await ProcessRunner.run(RunCommandTests.binary, Self.base + ["--participants", "2", "--progress", "1"],
                                                 environment: ["TESSERA_PARTICIPANTS": "3", "TESSERA_PROGRESS": "1"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("2 participants"), "\(result.output)")
        #expect(!result.output.contains("3 participants"))
        #expect(!result.output.contains("options from the environment"))
    }

    @Test(.enabled(if: enabled, "needs .build/debug/tessera: run `swift build` first"))
    func badValueNamesTheVariable() async throws {
        let result = try await ProcessRunner.run(RunCommandTests.binary, Self.base, environment: ["TESSERA_PARTICIPANTS": "many"])
        #expect(result.status == 64, "\(result.output)")
        #expect(result.output.contains("'many' is invalid for '--participants"), "\(result.output)")
        #expect(result.output.contains("options from the environment: TESSERA_PARTICIPANTS"), "\(result.output)")
    }

    @Test(.enabled(if: enabled, "needs .build/debug/tessera: run `swift build` first"))
    func otherCommandsIgnoreTheEnvironment() async throws {
        let result = try await ProcessRunner.run(RunCommandTests.binary, ["plan", "\(repoRoot)/Layouts/single-1080p.json", "--participants", "2"],
                                                 environment: ["TESSERA_PARTICIPANTS": "many"])
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("environment"))
    }
}

/// Numbers that reach `tessera run` from tessera.env or the command line: NaN, infinity and absurd
/// sizes are refused with usage errors (infinity as --progress used to trap in a Duration conversion).
@Suite struct RunNumberTests {
    @Test(.enabled(if: RunEnvironmentTests.enabled, "needs .build/debug/tessera: run `swift build` first"),
          arguments: [["--progress", "inf"], ["--progress", "nan"], ["--exit-after", "inf"], ["--exit-after", "nan"],
                      ["--fps", "nan"], ["--fps", "0"], ["--participants", "1000000000"], ["--participants", "-1"]])
    func hostileNumbersAreRefused(_ extra: [String]) async throws {
        let args = ["run", "--layout", "\(repoRoot)/Layouts/single-1080p.json", "--backend", "headless", "--health", "off",
                    "--keyboard", "none"] + extra
        let result = try await ProcessRunner.run(RunCommandTests.binary, args)
        #expect(result.status == 64, "\(extra): \(result.output)")
        #expect(!result.output.contains("Backtrace"), "\(result.output)")
    }
}
