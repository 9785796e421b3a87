import Foundation
import Glibc
import TesseraCore
import TesseraSignal
import TesseraSignalServer
import Testing

let signalRepoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A plain TCP socket to 127.0.0.1:`port`, blocking; -1 when the connect failed.
func tcpConnect(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let r = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if r != 0 { close(fd); return -1 }
    return fd
}

/// Sends `text`, reads to EOF (at most 2 s of silence): the whole answer.
func exchange(_ port: Int, _ text: String) -> String? {
    let fd = tcpConnect(port)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(text.utf8)
    guard write(fd, bytes, bytes.count) == bytes.count else { return nil }
    var answer = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        answer += buffer[0..<n]
    }
    return String(decoding: answer, as: UTF8.self)
}

/// True when the peer closed `fd` (read returns EOF or reset) within `timeout`.
func closedByPeer(_ fd: Int32, within timeout: Duration) async -> Bool {
    var flags = fcntl(fd, F_GETFL)
    flags |= O_NONBLOCK
    _ = fcntl(fd, F_SETFL, flags)
    let deadline = ContinuousClock.now + timeout
    var byte: UInt8 = 0
    while ContinuousClock.now < deadline {
        let n = read(fd, &byte, 1)
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return false
}

/// Raises this process's open-file limit to at least `n` (up to the hard limit).
func raiseOpenFileLimit(to n: UInt) {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < n else { return }
    limit.rlim_cur = min(limit.rlim_max, rlim_t(n))
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// The backend against connections that never upgrade: closed after the upgrade deadline, capped,
/// and closed on shutdown; walls and /healthz keep getting in.
@Suite(.timeLimit(.minutes(3)), .serialized)
struct ServerLivenessTests {
    @Test func elevenHundredIdleConnectionsDoNotLockOutAWallOrHealthz() async throws {
        raiseOpenFileLimit(to: 8192)
        let store = RoomStore()
        try await fill(store, ids: 1...3)
        let backend = try await RunningBackend.start(store: store) {
            $0.maxConnections = 256
            $0.upgradeTimeout = .seconds(1)
        }
        var idle: [Int32] = []
        for _ in 0..<1100 {
            let fd = tcpConnect(backend.port)
            if fd >= 0 { idle.append(fd) }
        }
        // A half-sent upgrade is no better than silence.
        let halfSent = tcpConnect(backend.port)
        let head = Array("GET /signal HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n".utf8)
        _ = write(halfSent, head, head.count)

        let wall = RunningClient(url: backend.url)
        try await eventually("the wall's snapshot") { await wall.client.snapshotsApplied >= 1 }
        try await eventually("/healthz") {
            exchange(backend.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?.contains("ok") == true
        }
        #expect(await closedByPeer(halfSent, within: .seconds(30)))
        #expect(await closedByPeer(idle[0], within: .seconds(30)))
        #expect(await closedByPeer(idle[1099], within: .seconds(30)))
        idle.forEach { close($0) }
        close(halfSent)
        await wall.stop()
        await backend.stop()
    }

    @Test func shutdownClosesIdleConnectionsAndEnds() async throws {
        let backend = try await RunningBackend.start { $0.upgradeTimeout = .seconds(600) }
        let idle = tcpConnect(backend.port)
        #expect(idle >= 0)
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        await backend.stop()
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(await closedByPeer(idle, within: .seconds(5)))
        close(idle)
    }

    static let binary = "\(signalRepoRoot)/.build/debug/tessera-signal"

    /// The real `tessera-signal`: SIGTERM ends it within 10 s while an idle TCP client, a half-sent
    /// upgrade and a connected wall are open.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "needs .build/debug/tessera-signal: run `swift build` first"))
    func tesseraSignalEndsOnSIGTERMWithIdleClients() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["--listen", "127.0.0.1:0", "--upgrade-timeout", "600", "--participants", "2"]
        process.environment = ["TESSERA_WALL_TOKEN": wallToken, "TESSERA_ADMIN_TOKEN": adminToken]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // The port it bound, from its log line.
        var log = ""
        var port: Int?
        let reader = errors.fileHandleForReading
        let deadline = ContinuousClock.now + .seconds(60)
        while port == nil, ContinuousClock.now < deadline, process.isRunning {
            let chunk = reader.availableData
            if chunk.isEmpty { try await Task.sleep(for: .milliseconds(50)); continue }
            log += String(decoding: chunk, as: UTF8.self)
            if let r = log.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(log[r].split(separator: ":").last ?? "")
            }
        }
        let bound = try #require(port, "no listening line in: \(log)")
        let idle = tcpConnect(bound)
        let halfSent = tcpConnect(bound)
        let head = Array("GET /signal HTTP/1.1\r\nHost: x\r\n".utf8)
        _ = write(halfSent, head, head.count)
        let wall = RunningClient(url: "ws://127.0.0.1:\(bound)\(SignalProtocol.webSocketPath)", room: "demo")
        try await eventually("the wall's snapshot") { await wall.client.snapshotsApplied >= 1 }

        kill(process.processIdentifier, SIGTERM)
        let start = ContinuousClock.now
        while process.isRunning && ContinuousClock.now - start < .seconds(10) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning, "tessera-signal still running 10 s after SIGTERM")
        close(idle)
        close(halfSent)
        await wall.stop()
    }
}
