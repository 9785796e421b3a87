import Foundation
import Testing
import TesseraCore
@testable import TesseraMedia

/// The `mpegts` fuzz harness's path (`MemoryDemux`) does real work on its seeds, and survives
/// what the fuzzer starts from: cut, flipped and random bytes.
@Suite("Memory demux")
struct MemoryDemuxTests {
    static let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/Seeds/mpegts").standardized

    // mpeg2.ts is fuzzer input only: the live path waits for an H.264/HEVC keyframe flag, and
    // MPEG-2 in this small clip gives none in memory (0 pictures; not investigated further).
    @Test(arguments: ["h264.ts", "h264-stamped.ts", "hevc.ts"])
    func seedClipsDecode(_ name: String) throws {
        let bytes = try [UInt8](Data(contentsOf: Self.seeds.appendingPathComponent(name)))
        let pictures = bytes.withUnsafeBytes { MemoryDemux.decodeMPEGTS($0) }
        #expect(pictures >= 2, "\(name): \(pictures) pictures")
    }

    @Test func damagedInputNeverTraps() throws {
        let clip = try [UInt8](Data(contentsOf: Self.seeds.appendingPathComponent("h264-stamped.ts")))
        var generator = SystemRandomNumberGenerator()
        var inputs: [[UInt8]] = [[], [0x47], Array(clip.prefix(188 * 3 + 17))]
        for _ in 0..<20 {
            var damaged = clip
            for _ in 0..<40 { damaged[Int.random(in: 0..<damaged.count, using: &generator)] = .random(in: 0...255, using: &generator) }
            inputs.append(damaged)
        }
        inputs.append((0..<4096).map { _ in .random(in: 0...255, using: &generator) })
        for input in inputs { _ = input.withUnsafeBytes { MemoryDemux.decodeMPEGTS($0) } }
    }
}
