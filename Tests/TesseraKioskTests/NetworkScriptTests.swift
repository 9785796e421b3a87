import Foundation
import Testing

/// deploy/tessera-network.sh (the unit's `ExecStartPre=+`) with a recording `systemctl` first on
/// PATH: the arguments it would give systemd. systemd 252 refused the old form
/// ("IPAddressAllow=localhost 192.0.2.1": "Failed to parse IP address prefix: localhost"), so with
/// TESSERA_IP_ALLOW set the wall never started; make e2e-boot (check 8) runs it under real systemd.
@Suite struct NetworkScriptTests {
    static let script = "\(repoRoot)/deploy/tessera-network.sh"

    /// Runs the script; returns the recorded `systemctl` arguments (nil when it did not call it) and its status.
    func run(allow: String?, existingLimit: Bool = false) async throws -> (args: [String]?, status: Int32) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-net-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let record = "\(dir)/args"
        let fake = "\(dir)/systemctl"
        try "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \(record)\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        var env = ["PATH": "\(dir):/usr/bin:/bin"]
        if let allow { env["TESSERA_IP_ALLOW"] = allow }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [Self.script, "tessera.service"]
        process.environment = env
        let status: Int32 = try await withCheckedThrowingContinuation { c in
            process.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { process.terminationHandler = nil; c.resume(throwing: error) }
        }
        let args = (try? String(contentsOfFile: record, encoding: .utf8)).map { $0.split(separator: "\n").map(String.init) }
        return (args, status)
    }

    @Test func eachAddressIsItsOwnAssignment() async throws {
        let (args, status) = try await run(allow: " 192.0.2.1  10.0.0.0/8 * ")
        #expect(status == 0)
        #expect(args == ["set-property", "--runtime", "tessera.service", "IPAddressDeny=any", "IPAddressAllow=localhost",
                         "IPAddressAllow=192.0.2.1", "IPAddressAllow=10.0.0.0/8", "IPAddressAllow=*"],
                "one assignment per address, never globbed: \(args ?? [])")
    }

    @Test func noListLeavesTheUnitAlone() async throws {
        let (args, status) = try await run(allow: "")
        #expect(status == 0)
        #expect(args == nil, "an empty list with no limit set earlier calls nothing (each set-property marks the unit changed)")
    }
}
