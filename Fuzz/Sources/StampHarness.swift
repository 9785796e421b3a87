import TesseraCore
@testable import TesseraMedia

/// An H.264 access unit as a stream could send it: find Tessera's stamps in its SEI (the reader
/// the replay path and `tessera probe` use), read each as `TestStamp(seiPayload:)` does, measure
/// its age as the mailbox does, and rewrite it as the replaying publisher does.
let stampHarness = Harness(name: "stamp", summary: "H.264 access unit: SEI stamp reader, StampRewriter, stamp age") { bytes in
    let accessUnit = Array(bytes)
    let now = WallClock.micros()
    for stamp in StampRewriter.stamps(in: accessUnit) {
        _ = WallClock.age(ofStamp: stamp.captureMicros, now: now)
    }
    _ = TestStamp(seiPayload: bytes)
    let replacement = TestStamp(participant: Int(truncatingIfNeeded: accessUnit.count), frame: .max, captureMicros: .min)
    if let rewritten = StampRewriter.rewrite(bytes, with: replacement) {
        for stamp in StampRewriter.stamps(in: rewritten) { _ = WallClock.age(ofStamp: stamp.captureMicros, now: now) }
    }
}
