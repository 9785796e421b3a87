import Foundation
import Synchronization
import TesseraCore
import Testing

/// Which thread freed a picture.
private final class FreedOn: Sendable {
    let thread = Mutex<UInt64?>(nil)
}

/// A picture that tells which thread let go of it last.
private final class WatchedFrame: VideoFrame {
    let size = Size(width: 2, height: 2)
    let format = PixelFormat.bgra
    let matrix = ColorMatrix.bt709
    let range = ColorRange.full
    let decodedAt = ContinuousClock.now
    let freedOn: FreedOn
    init(_ freedOn: FreedOn) { self.freedOn = freedOn }
    deinit { freedOn.thread.withLock { $0 = UInt64(pthread_self()) } }
    func stride(ofPlane index: Int) -> Int { 8 }
    func withPlane<R>(_ index: Int, _ body: (RawSpan) throws -> R) rethrows -> R {
        try [UInt8](repeating: 0, count: 16).withUnsafeBytes { try body(RawSpan(_unsafeBytes: $0)) }
    }
}

@Suite struct FirstShowTests {
    @Test func eachPictureIsNewOnceWhileItStaysOnTheOutput() {
        var shown = FirstShow()
        let a = PlanarFrame(size: Size(width: 2, height: 2), format: .bgra, fill: [0, 0, 0, 255])
        let b = PlanarFrame(size: Size(width: 2, height: 2), format: .bgra, fill: [9, 9, 9, 255])
        #expect(shown.newPictures([a, a]).count == 1, "a picture in two tiles counts once")
        #expect(shown.newPictures([a]).isEmpty, "drawn again at the next refresh: not new")
        #expect(shown.newPictures([a, b]).map { ObjectIdentifier($0) } == [ObjectIdentifier(b)])
        #expect(shown.newPictures([b]).isEmpty)
        #expect(shown.newPictures([a]).count == 1, "gone for a draw and back: new again")
    }

    /// The render thread must not pay for freeing pictures (a decoder's buffer pool can go with
    /// the last one): FirstShow hands those it stops holding to `FrameRelease`.
    @Test func picturesNoLongerShownAreFreedOffTheCallingThread() async throws {
        let freedOn = FreedOn()
        let caller = UInt64(pthread_self())
        var shown = FirstShow()
        do {
            let frame = WatchedFrame(freedOn)
            _ = shown.newPictures([frame])
        }
        _ = shown.newPictures([])
        #expect(freedOn.thread.withLock { $0 } == nil, "still held for the background queue")
        let deadline = ContinuousClock.now + .seconds(10)
        while freedOn.thread.withLock({ $0 }) == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let thread = try #require(freedOn.thread.withLock { $0 }, "freed within 10 s")
        #expect(thread != caller)
    }
}
