import Foundation
import Glibc
import Testing

/// A loopback peer stuck before the WebSocket upgrade, for `tessera run --signal` to point at.
final class StuckPeer: @unchecked Sendable {
    /// `tlsAlert` answers as a TLS backend answers plain HTTP: a TLS alert record, then FIN.
    enum Behaviour: String, CaseIterable, Sendable { case finAtOnce, neverAnswer, neverAccept, tlsAlert }
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var held: [Int32] = []
    private var stopped = false

    init(_ behaviour: Behaviour) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }) == 0,
              listen(fd, behaviour == .neverAccept ? 0 : 64) == 0 else { throw StuckPeerError() }
        var len = size
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
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
                if behaviour == .tlsAlert {
                    let alert: [UInt8] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]  // fatal protocol_version
                    _ = write(fd, alert, alert.count)
                    shutdown(fd, Int32(SHUT_WR))
                }
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

/// A TCP port nobody listens on now (bound, read back, released).
func unusedLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// The real `tessera-signal` and `tessera run` together, with the wall connected and its streams
/// stuck opening (an RTSP server that accepts and never answers): SIGTERM ends the wall, then the
/// backend, each within 10 s.
@Suite(.serialized) struct ConnectedShutdownTests {
    static let signalBinary = "\(repoRoot)/.build/debug/tessera-signal"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: SignalShutdownTests.binary)
                   && FileManager.default.isExecutableFile(atPath: signalBinary), "needs the binaries: run `swift build` first"))
    func sigtermEndsAConnectedWallWithStreamsOpeningAndThenTheBackend() async throws {
        let rtsp = try StuckPeer(.neverAnswer)
        defer { rtsp.stop() }
        let backend = Process()
        backend.executableURL = URL(fileURLWithPath: Self.signalBinary)
        backend.arguments = ["--listen", "127.0.0.1:0", "--participants", "4",
                             "--stream-url-template", "rtsp://127.0.0.1:\(rtsp.port)/p{n}"]
        backend.environment = ["TESSERA_WALL_TOKEN": "wall-token-for-tests", "TESSERA_ADMIN_TOKEN": "admin-token-for-tests"]
        let backendLog = Pipe()
        backend.standardError = backendLog
        backend.standardOutput = FileHandle.nullDevice
        try backend.run()
        defer { if backend.isRunning { kill(backend.processIdentifier, SIGKILL) } }
        var log = ""
        var port: Int?
        let deadline = ContinuousClock.now + .seconds(60)
        while port == nil, ContinuousClock.now < deadline, backend.isRunning {
            let chunk = backendLog.fileHandleForReading.availableData
            if chunk.isEmpty { try await Task.sleep(for: .milliseconds(50)); continue }
            log += String(decoding: chunk, as: UTF8.self)
            if let r = log.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(log[r].split(separator: ":").last ?? "")
            }
        }
        let bound = try #require(port, "no listening line in: \(log)")

        let health = unusedLoopbackPort()
        let wall = Process()
        wall.executableURL = URL(fileURLWithPath: SignalShutdownTests.binary)
        wall.arguments = ["run", "--layout", "\(repoRoot)/Layouts/single-1080p.json", "--backend", "headless",
                          "--signal", "ws://127.0.0.1:\(bound)/signal", "--health", "127.0.0.1:\(health)",
                          "--keyboard", "none", "--fps", "5", "--allow-host", "127.0.0.1"]
        var environment = ProcessInfo.processInfo.environment
        environment["TESSERA_WALL_TOKEN"] = "wall-token-for-tests"
        wall.environment = environment
        wall.standardError = FileHandle.nullDevice
        wall.standardOutput = FileHandle.nullDevice
        try wall.run()
        defer { if wall.isRunning { kill(wall.processIdentifier, SIGKILL) } }
        try await eventually("the wall connected") {
            guard wall.isRunning else { return true }
            let (metrics, _) = (try? await get("http://127.0.0.1:\(health)/metrics")) ?? ("", 0)
            return metrics.contains("tessera_signal_connected 1")
        }
        #expect(wall.isRunning)
        // Let the streams start opening against the silent RTSP server.
        try await Task.sleep(for: .seconds(1))

        kill(wall.processIdentifier, SIGTERM)
        var start = ContinuousClock.now
        while wall.isRunning && ContinuousClock.now - start < .seconds(10) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!wall.isRunning, "tessera run still running 10 s after SIGTERM")

        kill(backend.processIdentifier, SIGTERM)
        start = ContinuousClock.now
        while backend.isRunning && ContinuousClock.now - start < .seconds(10) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!backend.isRunning, "tessera-signal still running 10 s after SIGTERM")
    }
}
