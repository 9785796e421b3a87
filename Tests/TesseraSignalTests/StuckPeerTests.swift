import Foundation
import Glibc
import TesseraCore
import TesseraSignal
import Testing

/// A loopback TCP peer that misbehaves before the WebSocket upgrade, on real sockets: what it does
/// with each accepted connection is `behaviour`. Stopped (and every socket it holds closed) by `stop`.
final class MisbehavingPeer: @unchecked Sendable {
    enum Behaviour { case finAtOnce, neverAnswer, neverAccept }

    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var held: [Int32] = []
    private var stopped = false
    private(set) var accepted = 0
    private var thread: Thread?

    init(_ behaviour: Behaviour) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind: \(errno)") }
        // A black hole: backlog 0 and nobody accepting; once the queue holds what it can, further
        // SYNs are dropped and a connect waits for its timeout.
        guard listen(fd, behaviour == .neverAccept ? 0 : 64) == 0 else { throw TestFailure("listen: \(errno)") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        if behaviour == .neverAccept {
            // Fill the accept queue with connections nobody accepts.
            for _ in 0..<4 {
                let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                _ = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                held.append(s)
            }
            return
        }
        let t = Thread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                // finAtOnce half-closes (FIN, as a TLS backend does to a plain HTTP request) and keeps
                // the socket, so the wall sees a clean end of input, not a reset.
                if behaviour == .finAtOnce { shutdown(fd, Int32(SHUT_WR)) }
                let keep = lock.withLock { () -> Bool in
                    accepted += 1
                    if stopped { return false }
                    held.append(fd)
                    return true
                }
                if !keep { close(fd) }
            }
        }
        thread = t
        t.start()
    }

    var acceptedCount: Int { lock.withLock { accepted } }

    var url: String { "ws://127.0.0.1:\(port)\(SignalProtocol.webSocketPath)" }

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

/// Every phase of a connection attempt has a deadline, and every failure says which phase and what
/// to check, then goes to the backoff: a wall never waits for good on a peer that misbehaves.
@Suite(.timeLimit(.minutes(2)))
struct StuckPeerTests {
    func disconnects(of wall: RunningClient, atLeast n: Int) async throws -> [SignalDisconnect] {
        try await eventually("\(n) failed attempts") { await wall.client.disconnects.count >= n }
        return await wall.client.disconnects
    }

    @Test func aPeerThatClosesBeforeTheUpgradeIsRetriedAndSaysUseWss() async throws {
        let peer = try MisbehavingPeer(.finAtOnce)
        let wall = RunningClient(url: peer.url)
        let seen = try await disconnects(of: wall, atLeast: 2)
        #expect(peer.acceptedCount >= 2)
        for d in seen {
            #expect(d.reason.contains("closed the connection before the WebSocket upgrade"), "\(d.reason)")
            #expect(d.reason.contains("use wss://"), "\(d.reason)")
            #expect(d.reason.contains(peer.url), "\(d.reason)")
        }
        await wall.stop()
        peer.stop()
    }

    /// A peer that closes during the TLS handshake did not refuse a certificate: the wall says it
    /// closed, and what to check.
    @Test func aPeerThatClosesDuringTheTLSHandshakeIsNotACertificateRefusal() async throws {
        let peer = try MisbehavingPeer(.finAtOnce)
        let wall = RunningClient(url: "wss://localhost:\(peer.port)/signal")
        let seen = try await disconnects(of: wall, atLeast: 2)
        for d in seen {
            #expect(!d.reason.contains("certificate"), "\(d.reason)")
            #expect(d.reason.contains("closed the connection during the TLS handshake"), "\(d.reason)")
        }
        await wall.stop()
        peer.stop()
    }

    @Test func aPeerThatNeverAnswersTheUpgradeTimesOut() async throws {
        let peer = try MisbehavingPeer(.neverAnswer)
        let wall = RunningClient(url: peer.url) { $0.connectTimeout = .milliseconds(300) }
        let seen = try await disconnects(of: wall, atLeast: 2)
        for d in seen {
            #expect(d.reason.contains("no answer to the WebSocket upgrade within"), "\(d.reason)")
        }
        await wall.stop()
        peer.stop()
    }

    @Test func aConnectThatIsNeverAcceptedTimesOut() async throws {
        let peer = try MisbehavingPeer(.neverAccept)
        let wall = RunningClient(url: peer.url) { $0.connectTimeout = .milliseconds(300) }
        let seen = try await disconnects(of: wall, atLeast: 2)
        for d in seen {
            #expect(d.reason.contains("TCP connect") || d.reason.contains("WebSocket upgrade"), "\(d.reason)")
        }
        await wall.stop()
        peer.stop()
    }

    @Test func wsToATLSBackendSaysUseWss() async throws {
        let pki = try TestPKI.make()
        let backend = try await RunningBackend.start { $0.tls = pki.localhost }
        let wall = RunningClient(url: backend.url) { $0.connectTimeout = .seconds(2) }
        let seen = try await disconnects(of: wall, atLeast: 2)
        for d in seen {
            #expect(d.reason.contains("use wss://"), "\(d.reason)")
        }
        await wall.stop()
        await backend.stop()
    }

    @Test func cancellingAStuckAttemptEndsTheClient() async throws {
        for behaviour in [MisbehavingPeer.Behaviour.neverAnswer, .neverAccept] {
            let peer = try MisbehavingPeer(behaviour)
            // A long deadline: only cancellation can end the attempt in time.
            let wall = RunningClient(url: peer.url) { $0.connectTimeout = .seconds(600) }
            try await eventually("connecting") { await wall.client.connections >= 1 }
            try await Task.sleep(for: .milliseconds(200))
            let start = ContinuousClock.now
            await wall.stop()
            #expect(ContinuousClock.now - start < .seconds(10), "\(behaviour)")
            peer.stop()
        }
    }
}
