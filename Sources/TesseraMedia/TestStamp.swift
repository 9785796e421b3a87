import TesseraCore

/// What the test publisher puts in each frame's SEI user-data-unregistered message, and what the
/// decoder side reads back from the frame's side data: who sent it, which frame, and when it was
/// captured (CLOCK_REALTIME, so it can be compared across processes on one machine).
public struct TestStamp: Hashable, Sendable {
    /// The SEI's UUID: identifies Tessera test streams among other user data.
    public static let uuid: [UInt8] = [0x74, 0x65, 0x73, 0x73, 0x65, 0x72, 0x61, 0x2d, 0x73, 0x74, 0x61, 0x6d, 0x70, 0x00, 0x00, 0x01]
    public var participant: Int
    public var frame: Int64
    public var captureMicros: Int64

    public init(participant: Int, frame: Int64, captureMicros: Int64) {
        self.participant = participant; self.frame = frame; self.captureMicros = captureMicros
    }

    /// UUID, then participant (u32), frame (u64) and capture time (i64 µs), big-endian.
    public var seiPayload: [UInt8] {
        func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        return Self.uuid + be(UInt32(truncatingIfNeeded: participant)) + be(UInt64(bitPattern: frame)) + be(captureMicros)
    }

    init?(seiPayload p: UnsafeRawBufferPointer) {
        guard p.count >= 36, Array(p.prefix(16)) == Self.uuid else { return nil }
        func read(_ at: Int, _ n: Int) -> UInt64 { (at..<at + n).reduce(0) { $0 << 8 | UInt64(p[$1]) } }
        participant = Int(read(16, 4)); frame = Int64(bitPattern: read(20, 8)); captureMicros = Int64(bitPattern: read(28, 8))
    }
}
