import Foundation
import Synchronization

/// Runs a child process to its end without blocking a thread of the test process's cooperative
/// pool (2 threads on a 2-core machine: a test that blocks one in `waitUntilExit` or
/// `readDataToEndOfFile` stalls every async test beside it). Output is drained as it comes, so a
/// chatty child never fills its pipe and waits forever.
enum ProcessRunner {
    struct Result {
        var status: Int32
        var output: String
    }

    /// `environment`: variables added to (or replacing) this process's environment.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let collected = Mutex(Data())
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            collected.withLock { $0.append(chunk) }
        }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        pipe.fileHandleForReading.readabilityHandler = nil
        // The child has ended: what is left in the pipe is there already.
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        let data = collected.withLock { $0 + rest }
        return Result(status: status, output: String(decoding: data, as: UTF8.self))
    }
}
