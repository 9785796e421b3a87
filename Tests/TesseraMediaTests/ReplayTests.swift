import CFFmpeg
import Foundation
import Testing
import TesseraCore
import TesseraFFmpeg
@testable import TesseraMedia
@testable import TesseraTestMedia
#if canImport(Glibc)
import Glibc
#endif

/// The stamp rewriter on access units built by hand, and the test publisher's replay mode end to
/// end (a clip it wrote, replayed to a file and to a live UDP stream the engine decodes).
@Suite("Replay")
struct ReplayTests {
    // MARK: - Access units by hand

    /// An SEI NAL unit (header 0x06) holding `messages`, with emulation prevention applied here
    /// (not with the rewriter's own code, so that the two check each other).
    static func seiNAL(_ messages: [(type: Int, payload: [UInt8])]) -> [UInt8] {
        func coded(_ v: Int) -> [UInt8] { Array(repeating: 0xff, count: v / 255) + [UInt8(v % 255)] }
        var rbsp: [UInt8] = []
        for m in messages { rbsp += coded(m.type) + coded(m.payload.count) + m.payload }
        rbsp.append(0x80)
        return [0x06] + escaped(rbsp)
    }

    static func escaped(_ rbsp: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], zeros = 0
        for b in rbsp {
            if zeros == 2 && b <= 3 { out.append(3); zeros = 0 }
            out.append(b); zeros = b == 0 ? zeros + 1 : 0
        }
        return out
    }

    /// Whether `nal` (after its start code) holds no 00 00 0x (x ≤ 3) other than 00 00 03 followed
    /// by a byte above 3 or by nothing: what a decoder needs to find the NAL unit's end.
    static func properlyEscaped(_ nal: ArraySlice<UInt8>) -> Bool {
        let b = Array(nal)
        for i in 0..<max(0, b.count - 2) where b[i] == 0 && b[i + 1] == 0 {
            if b[i + 2] < 3 { return false }
            if b[i + 2] == 3, i + 3 < b.count, b[i + 3] > 3 { return false }
        }
        return true
    }

    static let aud: [UInt8] = [0, 0, 0, 1, 0x09, 0xf0]
    static let slice: [UInt8] = [0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01, 0x7f, 0x20]
    /// x264's own user data (another UUID), a message with a two-byte type (300) and a size over
    /// 255, then the stamp: the walker must skip the others by their coded sizes.
    static func accessUnit(_ stamp: TestStamp, fourByteStartCode: Bool = true) -> [UInt8] {
        let x264 = Array(repeating: UInt8(0x42), count: 16) + Array("x264 - core 164".utf8)
        let long = Array(repeating: UInt8(0), count: 300)
        let sei = seiNAL([(5, x264), (300, [0x00, 0x00]), (5, long), (5, stamp.seiPayload)])
        return aud + (fourByteStartCode ? [0, 0, 0, 1] : [0, 0, 1]) + sei + [0, 0] + slice
    }

    @Test func stampUUIDIsEscapedInTheBitstream() {
        let au = Self.accessUnit(TestStamp(participant: 1, frame: 1, captureMicros: 1))
        // "…stamp" 00 00 01 → 00 00 03 01: the UUID alone would otherwise start a NAL unit.
        let escapedUUIDTail: [UInt8] = [0x70, 0x00, 0x00, 0x03, 0x01]
        #expect(au.indices.contains { au[$0...].starts(with: escapedUUIDTail) })
    }

    @Test(arguments: [true, false])
    func rewritesTheStampAndNothingElse(fourByteStartCode: Bool) throws {
        let old = TestStamp(participant: 0x1111_1111, frame: 0x2222_2222_2222_2222, captureMicros: 0x3333_3333_3333_3333)
        let new = TestStamp(participant: 250, frame: 123_456, captureMicros: 1_764_500_000_123_456)
        let au = Self.accessUnit(old, fourByteStartCode: fourByteStartCode)
        #expect(StampRewriter.stamps(in: au) == [old])
        let out = try #require(StampRewriter.rewrite(au, with: new))
        #expect(StampRewriter.stamps(in: out) == [new])
        #expect(out.starts(with: Self.aud))
        #expect(Array(out.suffix(Self.slice.count + 2)) == [0, 0] + Self.slice, "bytes after the SEI, zeros included, are untouched")
        #expect(out == Self.accessUnit(new, fourByteStartCode: fourByteStartCode), "same bytes as an encoder would have written")
    }

    /// Frame 0 and a capture time with 00 00 01 inside need emulation-prevention bytes the original
    /// did not have: the access unit grows, stays parseable, and rewriting back restores it exactly.
    @Test func newValuesThatNeedEmulationPrevention() throws {
        let old = TestStamp(participant: 0x1111_1111, frame: 0x2222_2222_2222_2222, captureMicros: 0x3333_3333_3333_3333)
        let zeros = TestStamp(participant: 0, frame: 0, captureMicros: 0x0000_0100_0001_0203)
        let au = Self.accessUnit(old)
        let out = try #require(StampRewriter.rewrite(au, with: zeros))
        // After the UUID's 01: fourteen zeros, then 01 00 00 01 02 03 — 03s every two zeros and
        // before the 01s and the 03.
        #expect(out.count > au.count)
        #expect(StampRewriter.stamps(in: out) == [zeros])
        let seiStart = Self.aud.count + 4
        let seiEnd = out.count - Self.slice.count - 2
        #expect(Self.properlyEscaped(out[seiStart..<seiEnd]))
        #expect(out == Self.accessUnit(zeros), "escaped as an encoder would escape it")
        #expect(StampRewriter.rewrite(out, with: old) == au, "and back to the original bytes")
    }

    @Test func accessUnitsWithoutAStampAreLeftAlone() {
        let x264 = Array(repeating: UInt8(0x42), count: 16) + Array("x264".utf8)
        let otherSEI = Self.aud + [0, 0, 1] + Self.seiNAL([(5, x264), (6, [0x80])]) + Self.slice
        #expect(StampRewriter.rewrite(otherSEI, with: TestStamp(participant: 1, frame: 1, captureMicros: 1)) == nil)
        #expect(StampRewriter.rewrite(Self.aud + Self.slice, with: TestStamp(participant: 1, frame: 1, captureMicros: 1)) == nil)
        #expect(StampRewriter.rewrite([], with: TestStamp(participant: 1, frame: 1, captureMicros: 1)) == nil)
        // A stamp message cut short (size claims more than the NAL holds) is not guessed at.
        var cut = Self.seiNAL([(5, TestStamp(participant: 1, frame: 1, captureMicros: 1).seiPayload)])
        cut.removeLast(10)
        #expect(StampRewriter.rewrite(Self.aud + [0, 0, 1] + cut, with: TestStamp(participant: 2, frame: 2, captureMicros: 2)) == nil)
    }

    @Test(arguments: [
        ([0x00, 0x00, 0x00], [0x00, 0x00, 0x03, 0x00]),
        ([0x00, 0x00, 0x01, 0x00, 0x00, 0x02], [0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x02]),
        ([0x00, 0x00, 0x03], [0x00, 0x00, 0x03, 0x03]),
        ([0x00, 0x00, 0x04, 0x00, 0x00], [0x00, 0x00, 0x04, 0x00, 0x00, 0x03]), // final 00 00 gets a 03 after it
        ([0x00, 0x00, 0x00, 0x00, 0x00, 0x00], [0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03]),
        ([0x12, 0x00, 0x34], [0x12, 0x00, 0x34]),
    ] as [([UInt8], [UInt8])])
    func emulationPrevention(rbsp: [UInt8], nal: [UInt8]) {
        #expect(StampRewriter.escape(rbsp) == nal)
        #expect(StampRewriter.unescape(nal) == rbsp)
    }

    // MARK: - Replay of a clip the publisher wrote

    static func makeClip(_ dir: TempDir, name: String = "clip.ts", seconds: Double = 2) throws -> String {
        var o = TestSourceOptions()
        o.participant = 9; o.size = Size(width: 320, height: 180); o.fps = 15; o.seconds = seconds
        let path = dir.path + "/" + name
        try TestPublisher(url: path, options: o).run()
        return path
    }

    /// Replayed to a file as fast as it goes: every picture of every loop carries the replay's
    /// participant and a frame number one above the last, and timestamps rise across the loops.
    @Test func replayToFileRenumbersAcrossLoops() throws {
        let dir = TempDir()
        let clip = try Self.makeClip(dir)
        var o = TestSourceOptions()
        o.participant = 77; o.replay = clip; o.seconds = 5 // 2.5 loops of the 2 s clip
        let out = dir.path + "/replayed.ts"
        let before = nowMicros()
        let publisher = TestPublisher(url: out, options: o)
        try publisher.run()
        #expect(publisher.framesSent == 75, "5 s at 15 fps")

        let interrupt = Interrupt() // the context holds only its state pointer: keep it alive
        let input = try InputContext(URLPolicy().check(out, origin: .localConfig), interrupt: interrupt, ioTimeout: .seconds(5))
        let packet = try Packet()
        defer { withExtendedLifetime(interrupt) {} }
        var stamps: [TestStamp] = [], dts: [Int64] = []
        while true {
            let rc = input.read(into: packet)
            if rc == tessera_averror_eagain() { continue } // the demuxer's "try again" (StreamWorker retries too)
            if rc < 0 { #expect(rc == tessera_averror_eof(), "\(FFmpegLibraries.errorText(rc))"); break }
            defer { packet.unref() }
            let bytes = Array(UnsafeRawBufferPointer(start: packet.pkt.pointee.data, count: packet.size))
            stamps += StampRewriter.stamps(in: bytes)
            dts.append(packet.pkt.pointee.dts)
        }
        #expect(stamps.map(\.frame) == Array(0..<75))
        #expect(stamps.allSatisfy { $0.participant == 77 })
        #expect(stamps.allSatisfy { $0.captureMicros >= before && $0.captureMicros <= nowMicros() })
        #expect(zip(dts, dts.dropFirst()).allSatisfy { $0 < $1 }, "dts rise across loop boundaries")
        let span = Double(dts.last! - dts.first!) / 90_000
        #expect(abs(span - (5 - 1.0 / 15)) < 0.01, "75 frames 1/15 s apart, no gap or overlap at the loops: \(span)")
    }

    /// The live case: 2 s clip at 15 fps replayed to loopback UDP and decoded by the engine as a
    /// wall would. Stamps read back carry the replay's participant, a frame counter that keeps
    /// rising past the clip's 30 pictures, and the time the picture was sent.
    @Test func replayToUDPIsDecodedWithFreshStamps() throws {
        let dir = TempDir()
        let clip = try Self.makeClip(dir)
        let port = Ports.take()
        var o = TestSourceOptions()
        o.participant = 42; o.replay = clip
        let publisher = TestPublisher(url: "udp://127.0.0.1:\(port)", options: o)
        publisher.start()
        defer { publisher.stop(); publisher.join() }
        let engine = MediaEngine(configuration: testConfiguration())
        defer { engine.shutdown() }
        let id = StreamID("replay")
        #expect(engine.update(desired: [StreamRequest(id: id, url: "udp://127.0.0.1:\(port)", origin: .network)]).isEmpty)
        let box = try #require(engine.mailbox(for: id))
        var seen: [TestStamp] = []
        var lateness: [Int64] = []
        let passedLoop = wait(upTo: .seconds(20)) {
            if let s = box.latestDecodedFrame()?.stamp, s.frame != seen.last?.frame {
                seen.append(s); lateness.append(nowMicros() - s.captureMicros)
            }
            return (seen.last?.frame ?? 0) >= 45 || publisher.error != nil
        }
        #expect(publisher.error == nil, "\(publisher.error.map { "\($0)" } ?? "")")
        #expect(passedLoop, "frames seen: \(seen.map(\.frame)); state \(box.state); \(box.snapshot.lastError ?? "")")
        #expect(seen.count >= 5)
        #expect(seen.allSatisfy { $0.participant == 42 })
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.frame < $1.frame }, "\(seen.map(\.frame))")
        #expect(lateness.allSatisfy { (0..<1_000_000).contains($0) }, "capture = send time, within a second of now: \(lateness)")
    }

    @Test func clipsWithoutAnnexBAreRefused() throws {
        let dir = TempDir()
        let mp4 = try Self.makeClip(dir, name: "clip.mp4", seconds: 0.5)
        var o = TestSourceOptions()
        o.replay = mp4; o.seconds = 1
        let error = #expect(throws: MediaError.self) { try TestPublisher(url: dir.path + "/out.ts", options: o).run() }
        #expect(error.map { "\($0)".contains("Annex B") } == true, "\(error.map { "\($0)" } ?? "")")
    }

    func nowMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
}
