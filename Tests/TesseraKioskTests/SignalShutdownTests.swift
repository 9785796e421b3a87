import Foundation
import Glibc
import Testing

/// A loopback peer stuck before the WebSocket upgrade, for `tessera run --signal` to point at.
final class StuckPeer: @unchecked Sendable {
    enum Behaviour: String, CaseIterable, Sendable { case finAtOnce, neverAnswer, neverAccept }
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var held: [Int32] = []
    private var stopped = false

    init(_ behaviour: Behaviour) throws {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, size) } }) == 0,
              listen(listener, behaviour == .neverAccept ? 0 : 64) == 0 else { throw StuckPeerError() }
        var len = size
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        if behaviour == .neverAccept {
            for _ in 0..<4 {
                let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, size) } }
                held.append(s)
            }
            return
        }
        Thread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                // finAtOnce half-closes (a clean FIN, as a TLS backend gives a plain HTTP request).
                if behaviour == .finAtOnce { shutdown(fd, Int32(SHUT_WR)) }
                let keep = lock.withLock { () -> Bool in
                    if stopped { return false }
                    held.append(fd)
                    return true
                }
                if !keep { close(fd) }
            }
        }.start()
    }

    func stop() {
        let fds = lock.withLock { () -> [Int32] in
            stopped = true
            defer { held = [] }
            return held
        }
        fds.forEach { close($0) }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

struct StuckPeerError: Error {}

/// `tessera run --signal` as a process against a backend stuck before the upgrade: SIGTERM and
/// `--exit-after` end it within 10 s in every state, and the log says what went wrong.
@Suite(.serialized) struct SignalShutdownTests {
    static let binary = "\(repoRoot)/.build/debug/tessera"

    func launch(peer: StuckPeer, extra: [String] = []) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["run", "--layout", "\(repoRoot)/Layouts/single-1080p.json", "--backend", "headless",
                             "--signal", "ws://127.0.0.1:\(peer.port)/signal", "--health", "off", "--keyboard", "none",
                             "--fps", "5"] + extra
        var environment = ProcessInfo.processInfo.environment
        environment["TESSERA_WALL_TOKEN"] = "wall-token-for-tests"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, errors)
    }

    func waitForExit(_ process: Process, within bound: Duration) async throws -> Bool {
        let start = ContinuousClock.now
        while process.isRunning && ContinuousClock.now - start < bound { try await Task.sleep(for: .milliseconds(50)) }
        return !process.isRunning
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "needs .build/debug/tessera: run `swift build` first"),
          arguments: StuckPeer.Behaviour.allCases)
    func sigtermEndsRunWhileTheBackendIsStuck(behaviour: StuckPeer.Behaviour) async throws {
        let peer = try StuckPeer(behaviour)
        defer { peer.stop() }
        let (process, errors) = try launch(peer: peer)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // Time to start and get stuck in a connection attempt.
        try await Task.sleep(for: .seconds(3))
        #expect(process.isRunning)
        kill(process.processIdentifier, SIGTERM)
        #expect(try await waitForExit(process, within: .seconds(10)), "tessera run still running 10 s after SIGTERM (\(behaviour))")
        if behaviour == .finAtOnce, !process.isRunning {
            let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(log.contains("closed the connection before the WebSocket upgrade"), "\(log.suffix(2000))")
            #expect(log.contains("use wss://"))
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "needs .build/debug/tessera: run `swift build` first"))
    func exitAfterHoldsWhileTheBackendClosesBeforeTheUpgrade() async throws {
        let peer = try StuckPeer(.finAtOnce)
        defer { peer.stop() }
        let (process, _) = try launch(peer: peer, extra: ["--exit-after", "2"])
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        #expect(try await waitForExit(process, within: .seconds(60)), "tessera run --exit-after 2 did not end")
    }
}
