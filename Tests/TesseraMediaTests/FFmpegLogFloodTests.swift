import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia
#if canImport(Glibc)
import Glibc
#endif

/// Issue 12, finding 6a: garbage on a stream made FFmpeg write tens of thousands of lines. Here a
/// live UDP stream gets MPEG-TS packets of garbage on its video PID (PES headers, then random bytes
/// with H.264 start codes) mixed into its port for a few seconds: the decoder complains about
/// every one of them, and the log must show a bounded number of lines for that stream, the rest
/// counted in `ffmpegLogSuppressed`.
@Suite("FFmpeg log flood", .serialized)
struct FFmpegLogFloodTests {
    @Test func garbageOnALiveStreamProducesABoundedNumberOfLines() throws {
        let stream = LiveStream.start(participant: 61)
        defer { stream.publisher.stop(); stream.publisher.join() }
        let logs = LogLines()
        let engine = MediaEngine(configuration: testConfiguration(), logger: logs.logger)
        defer { engine.shutdown() }
        engine.update(desired: [stream.request])
        let box = try #require(engine.mailbox(for: stream.id))
        #expect(wait(upTo: .seconds(30)) { box.state == .playing })

        let sent = try sendGarbage(to: stream.port, for: .seconds(4))
        // The worker notices the rest of the flood within its next reads.
        _ = wait(upTo: .seconds(5)) { box.snapshot.ffmpegLogSuppressed > 0 }
        let lines = logs.records.filter { $0.stream == "\(stream.id)" && $0.message.hasPrefix("ffmpeg:") }.map(\.message)
        let suppressed = box.snapshot.ffmpegLogSuppressed
        print("flood: \(sent) garbage datagrams; \(lines.count) FFmpeg lines logged for the stream, \(suppressed) suppressed")
        // A burst, a few refills (10 a minute) and the "suppressed K messages" summaries.
        #expect(lines.count <= FFmpegLog.burst + 6, "\(lines.count) lines:\n\(lines.suffix(10).joined(separator: "\n"))")
        #expect(suppressed > 0, "the garbage produced no FFmpeg messages beyond the burst; lines: \(lines.count)")
        #expect(lines.contains { $0.contains("suppressed") } || lines.count <= FFmpegLog.burst)
    }

    /// Datagrams of 7 MPEG-TS packets on PID 0x100 (the publisher's video PID): a PES header on
    /// every packet that starts one, then random bytes with an H.264 start code every 40 bytes.
    private func sendGarbage(to port: Int, for duration: Duration) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var generator = SystemRandomNumberGenerator()
        var cc: UInt8 = 0
        var count = 0
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            var datagram: [UInt8] = []
            for i in 0..<7 {
                let start = i == 0
                var packet: [UInt8] = [0x47, start ? 0x41 : 0x01, 0x00, 0x10 | (cc & 0x0f)]
                cc &+= 1
                if start { packet += [0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 0x05, 0x21, 0, 1, 0, 1] }
                while packet.count < 188 {
                    if packet.count % 40 == 0 { packet += [0, 0, 1, UInt8.random(in: 0...255, using: &generator)] }
                    else { packet.append(UInt8.random(in: 0...255, using: &generator)) }
                }
                datagram += packet.prefix(188)
            }
            _ = datagram.withUnsafeBytes { bytes in
                withUnsafePointer(to: &addr) { a in
                    a.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            count += 1
            if count % 20 == 0 { Thread.sleep(forTimeInterval: 0.002) }
        }
        return count
    }
}
