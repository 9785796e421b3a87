import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia

/// Issue 12, finding 4: an RTSP server on an allowed host must not send the wall elsewhere. A
/// misbehaving server (Python, on loopback) on the allowed 127.0.0.1 answers DESCRIBE with a 302 to
/// 127.0.0.2, or SETUP over TCP with 461 and then a UDP transport naming `source=127.0.0.2`. A TCP
/// listener and UDP sockets on 127.0.0.2 report anything that reaches them: nothing may.
@Suite("RTSP network policy", .serialized)
struct RTSPPolicyTests {
    @Test func aRedirectToAnotherHostIsRefusedBeforeAnyConnection() throws {
        let server = try MisbehavingRTSPServer(mode: "redirect")
        defer { server.stop() }
        let error = open(server)
        let report = server.stop()
        #expect(!report.contains("other-host"), "the refused host was reached:\n\(report)")
        #expect(report.contains("request DESCRIBE"), "the server saw the DESCRIBE it redirected:\n\(report)")
        guard case .refused(_, let reason)? = error else {
            Issue.record("expected a refusal, got \(String(describing: error))"); return
        }
        #expect(reason.contains("127.0.0.2"))
    }

    @Test func aServerThatRefusesTCPIsNotPlayedOverUDP() throws {
        let server = try MisbehavingRTSPServer(mode: "udp")
        defer { server.stop() }
        let error = open(server)
        let report = server.stop()
        #expect(error != nil, "the open failed (the server offers no interleaved TCP)")
        #expect(!report.contains("other-host"), "RTP/RTCP reached the host the transport reply named:\n\(report)")
        #expect(!report.contains("RTP/AVP/UDP") && !report.contains("RTP/AVP;unicast"), "UDP transport was asked for:\n\(report)")
    }

    /// Opens the server's URL as the wall would (URL policy allowing only 127.0.0.1); the error.
    private func open(_ server: MisbehavingRTSPServer) -> MediaError? {
        let policy = URLPolicy(allowedHosts: ["127.0.0.1"])
        let interrupt = Interrupt()
        do {
            let url = try policy.check("rtsp://127.0.0.1:\(server.port)/cam", origin: .network)
            interrupt.arm(.seconds(5))
            _ = try InputContext(url, interrupt: interrupt, ioTimeout: .seconds(5))
            return nil
        } catch {
            return error
        }
    }
}

/// The Python RTSP server: `mode` "redirect" answers DESCRIBE with a 302 to 127.0.0.2; "udp" answers
/// SETUP over TCP with 461 and SETUP over UDP with a transport naming source=127.0.0.2.
final class MisbehavingRTSPServer: @unchecked Sendable {
    let port: Int
    private let process = Process()
    private let output = Pipe()
    private var report: String?

    init(mode: String) throws {
        port = Ports.take(4)
        let dir = NSTemporaryDirectory() + "tessera-rtsp-\(UUID().uuidString).py"
        try Self.script.write(toFile: dir, atomically: true, encoding: .utf8)
        // Debian's own interpreter: a version-manager shim in PATH would stand between us and the
        // peer, and a signal to the shim would not reach it.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [dir, mode, String(port), String(port + 2)]
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Wait for "ready" (both hosts bound) before the wall connects.
        var seen = Data()
        let handle = output.fileHandleForReading
        while !(String(decoding: seen, as: UTF8.self).contains("ready")) {
            let chunk = handle.availableData
            if chunk.isEmpty { throw CocoaError(.fileReadUnknown) }
            seen.append(chunk)
        }
        pending = seen
    }
    private var pending = Data()

    /// Ends the server; everything it reported.
    @discardableResult
    func stop() -> String {
        if let report { return report }
        Thread.sleep(forTimeInterval: 0.3) // late datagrams (RTCP) and connections
        kill(process.processIdentifier, SIGKILL) // a peer that hangs must not hang the suite
        process.waitUntilExit()
        let rest = output.fileHandleForReading.readDataToEndOfFile()
        let text = String(decoding: pending + rest, as: UTF8.self)
        report = text
        return text
    }

    static let script = #"""
import socket, sys, threading
mode, port, port2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def out(*a): print(*a, flush=True)
other = socket.socket(); other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
other.bind(("127.0.0.2", port2)); other.listen(8)
udps = []
for p in (port2, port2 + 1):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.2", p)); udps.append(u)
def watch_tcp():
    while True:
        c, a = other.accept(); out("other-host tcp connection from", a[0])
def watch_udp(s):
    while True:
        d, a = s.recvfrom(2048); out("other-host udp datagram from", a[0])
threading.Thread(target=watch_tcp, daemon=True).start()
for u in udps: threading.Thread(target=watch_udp, args=(u,), daemon=True).start()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(8)
sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n"
def serve(c):
    buf = b""
    while True:
        try: d = c.recv(4096)
        except OSError: return
        if not d: return
        buf += d
        while b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            method = lines[0].split(" ")[0]
            h = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
            out("request", method, h.get("transport", ""))
            extra, body, status = "", "", "200 OK"
            if method == "OPTIONS": extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
            elif method == "DESCRIBE":
                if mode == "redirect":
                    status = "302 Found"; extra = "Location: rtsp://127.0.0.2:%d/cam\r\n" % port2
                else:
                    extra = "Content-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1:%d/cam/\r\n" % port; body = sdp
            elif method == "SETUP":
                t = h.get("transport", "")
                if "TCP" in t: status = "461 Unsupported Transport"
                else:
                    cp = t.split("client_port=")[1].split(";")[0] if "client_port=" in t else "0-0"
                    extra = "Session: 12345678\r\nTransport: RTP/AVP/UDP;unicast;client_port=%s;server_port=%d-%d;source=127.0.0.2\r\n" % (cp, port2, port2 + 1)
            elif method == "PLAY": extra = "Session: 12345678\r\n"
            msg = "RTSP/1.0 %s\r\nCSeq: %s\r\n%sContent-Length: %d\r\n\r\n%s" % (status, h.get("cseq", "0"), extra, len(body), body)
            try: c.sendall(msg.encode())
            except OSError: return
out("ready")
while True:
    c, a = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""#
}
