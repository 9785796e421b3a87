import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia

/// Issue 12, Deliver 3 (media part): every open is bounded. Peers that accept and never answer
/// (RTSP, RTMP over TCP; SRT, whose handshake is UDP) and one that never accepts (a full listen
/// backlog): each open fails within the open timeout, the stream shows offline, and the worker
/// tries again with backoff.
@Suite("Open liveness", .serialized)
struct OpenLivenessTests {
    @Test(arguments: [("rtsp", "tcp-silent"), ("rtmp", "tcp-silent"), ("srt", "udp-silent"), ("rtsp", "tcp-never-accepts")])
    func anOpenToAPeerThatNeverAnswersTimesOutAndRetries(_ scheme: String, _ mode: String) throws {
        let peer = try SilentPeer(mode: mode)
        defer { peer.stop() }
        var config = testConfiguration()
        config.openTimeout = .seconds(2)
        config.policy = URLPolicy(allowedSchemes: [scheme], allowedHosts: ["127.0.0.1"])
        let engine = MediaEngine(configuration: config)
        let id = StreamID("p1")
        let path = scheme == "srt" ? "?mode=caller" : "/live/cam"
        engine.update(desired: [StreamRequest(id: id, url: "\(scheme)://127.0.0.1:\(peer.port)\(path)", origin: .network)])
        // Two timed-out opens and a retry between them: 2 × 2 s plus backoff; generous for a loaded machine.
        let retried = wait(upTo: .seconds(40)) {
            let s = engine.stats.streams.first
            return (s?.errors ?? 0) >= 2 && (s?.reconnects ?? 0) >= 1
        }
        let stats = engine.stats.streams.first
        #expect(retried, "no second attempt: \(String(describing: stats))")
        #expect(stats?.state == .offline || stats?.state == .connecting, "\(String(describing: stats?.state))")
        #expect(stats?.framesDecoded == 0)
        let ended = ContinuousClock().measure { engine.shutdown() }
        #expect(ended < .seconds(10), "shutdown during an open waited \(ended)")
    }
}

/// A peer on 127.0.0.1 that never answers (Python): "tcp-silent" accepts and reads forever,
/// "udp-silent" reads datagrams forever, "tcp-never-accepts" listens with a backlog it has filled
/// itself and never accepts.
final class SilentPeer: @unchecked Sendable {
    let port: Int
    private let process = Process()

    init(mode: String) throws {
        port = Ports.take(2)
        let script = NSTemporaryDirectory() + "tessera-peer-\(UUID().uuidString).py"
        try Self.script.write(toFile: script, atomically: true, encoding: .utf8)
        let out = Pipe()
        // Debian's own interpreter: a version-manager shim in PATH would stand between us and the
        // peer, and a signal to the shim would not reach it.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, mode, String(port)]
        process.standardOutput = out
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw CocoaError(.fileReadUnknown) }
            seen.append(chunk)
        }
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL) // a peer that hangs must not hang the suite
        process.waitUntilExit()
    }

    static let script = #"""
import socket, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
held = []
if mode == "udp-silent":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True: s.recvfrom(65536)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(0)
if mode == "tcp-never-accepts":
    # Fill the backlog with our own connections; later SYNs get no answer.
    for _ in range(4):
        c = socket.socket(); c.setblocking(False)
        try: c.connect(("127.0.0.1", port))
        except BlockingIOError: pass
        held.append(c)
    print("ready", flush=True)
    threading.Event().wait()
print("ready", flush=True)
def drain(c):
    while c.recv(65536): pass
while True:
    c, _ = s.accept(); held.append(c)
    threading.Thread(target=drain, args=(c,), daemon=True).start()
"""#
}
