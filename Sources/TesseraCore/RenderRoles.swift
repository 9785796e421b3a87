/// The renderer's role and what it draws from and into: the meeting point of Render, Output and Kiosk.
import Dispatch
import Synchronization

// MARK: - Where a tile's pictures come from

/// One participant stream: which stream a tile shows, which stream Media decodes, the key of
/// every per-stream table and the `stream` of every log line about it.
public struct StreamID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var participant: ParticipantID
    public var kind: StreamKind
    public init(_ participant: ParticipantID, _ kind: StreamKind = .camera) {
        self.participant = participant; self.kind = kind
    }
    public var description: String { kind == .camera ? participant.rawValue : "\(participant.rawValue)/\(kind.rawValue)" }
    public static func < (a: StreamID, b: StreamID) -> Bool { (a.participant, a.kind.rawValue) < (b.participant, b.kind.rawValue) }
}

/// How the renderer finds the stream behind each tile. Media's engine implements it over its
/// open streams; tests and `tessera preview` use `FrameSourceTable`.
public protocol FrameSourceLookup: Sendable {
    /// The stream for `key`, or nil when none is open (the tile shows the offline slate).
    /// Called on the render thread for every visible tile at every refresh: it must not block.
    /// The caller shares ownership of the returned source for the duration of one frame.
    func source(for key: StreamID) -> (any FrameSource)?
}

/// A fixed table of sources.
public struct FrameSourceTable: FrameSourceLookup {
    public var sources: [StreamID: any FrameSource]
    public init(_ sources: [StreamID: any FrameSource] = [:]) { self.sources = sources }
    public func source(for key: StreamID) -> (any FrameSource)? { sources[key] }
}

/// A source whose frame and state are set by hand: still pictures, placeholders, tests.
public final class StillFrameSource: FrameSource {
    private let slot: Mutex<(frame: (any VideoFrame)?, state: StreamState)>
    public init(_ frame: (any VideoFrame)?, state: StreamState = .playing) { slot = Mutex((frame, state)) }
    public func latestFrame() -> (any VideoFrame)? { slot.withLock { $0.frame } }
    public var state: StreamState { slot.withLock { $0.state } }
    /// Replaces the frame (as a decoder delivering a new one would) and optionally the state.
    public func deliver(_ frame: (any VideoFrame)?, state: StreamState? = nil) {
        slot.withLock { $0.frame = frame; if let state { $0.state = state } }
    }
}

// MARK: - What renderers draw into

/// A framebuffer a renderer draws one output into, in the panel's orientation (after rotation).
/// Handed out by an output (`Output.nextBuffer`: memory, DRM dumb buffers, or a target the renderer
/// made for it) or made by a renderer for drawing without an output (`Renderer.makeOffscreenTarget`).
public protocol RenderTarget: AnyObject {
    /// The panel's size in pixels (the mode's size; width and height are not swapped by rotation).
    var size: Size { get }
}

/// A framebuffer in CPU-addressable memory, 4 bytes a pixel in memory order B, G, R, X/A
/// (DRM_FORMAT_XRGB8888 on little-endian): headless memory and DRM dumb buffers.
public protocol CPUBuffer: RenderTarget {
    /// Bytes from one row to the next (at least `size.width * 4`).
    var stride: Int { get }
    /// Gives `body` the buffer's bytes (`stride * size.height`). Called by the renderer on the render
    /// thread; the bytes must not be kept beyond the call.
    func withMutableBytes<R>(_ body: (inout MutableRawSpan) throws -> R) rethrows -> R
    /// Gives `body` the buffer's bytes to read. Called by the CPU renderer's read-back and tests.
    func withBytes<R>(_ body: (RawSpan) throws -> R) rethrows -> R
}

/// A BGRA picture in Swift memory: the headless output's framebuffer, snapshots, golden images.
public final class MemoryBuffer: CPUBuffer, @unchecked Sendable {
    // Unchecked: one owner at a time (the render thread while drawing, then whoever holds the snapshot).
    public let size: Size
    public let stride: Int
    public private(set) var bytes: [UInt8]

    public init(size: Size, fill: Color = Color(red: 0, green: 0, blue: 0)) {
        self.size = size; self.stride = size.width * 4
        var px = [UInt8](repeating: 0, count: size.width * size.height * 4)
        if fill != Color(red: 0, green: 0, blue: 0, alpha: 0) {
            for i in Swift.stride(from: 0, to: px.count, by: 4) {
                px[i] = fill.blue; px[i + 1] = fill.green; px[i + 2] = fill.red; px[i + 3] = fill.alpha
            }
        }
        self.bytes = px
    }

    /// Wraps tightly packed BGRA bytes.
    public init(size: Size, bgra: [UInt8]) {
        precondition(bgra.count == size.width * size.height * 4, "expected \(size.width)x\(size.height)x4 bytes")
        self.size = size; self.stride = size.width * 4; self.bytes = bgra
    }

    public func withMutableBytes<R>(_ body: (inout MutableRawSpan) throws -> R) rethrows -> R {
        try bytes.withUnsafeMutableBytes { raw in
            var span = MutableRawSpan(_unsafeBytes: raw)
            return try body(&span)
        }
    }

    public func withBytes<R>(_ body: (RawSpan) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in try body(RawSpan(_unsafeBytes: raw)) }
    }

    /// The colour at (x, y).
    public subscript(x: Int, y: Int) -> Color {
        let i = y * stride + x * 4
        return Color(red: bytes[i + 2], green: bytes[i + 1], blue: bytes[i], alpha: bytes[i + 3])
    }

    /// A tightly packed copy of any CPU buffer.
    public static func copy(of buffer: any CPUBuffer) -> MemoryBuffer {
        let w = buffer.size.width, h = buffer.size.height, s = buffer.stride
        var out = [UInt8](repeating: 0, count: w * h * 4)
        buffer.withBytes { span in
            span.withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    for y in 0..<h {
                        dst.baseAddress!.advanced(by: y * w * 4)
                            .copyMemory(from: src.baseAddress!.advanced(by: y * s), byteCount: w * 4)
                    }
                }
            }
        }
        return MemoryBuffer(size: buffer.size, bgra: out)
    }

    /// The picture turned so that a viewer sees it upright: undoes `rotation` (the panel's clockwise
    /// turn) on a framebuffer in panel orientation. Headless snapshots are written this way.
    public func unrotated(_ rotation: Rotation) -> MemoryBuffer {
        if rotation == .none { return self }
        let w = size.width, h = size.height
        let out = MemoryBuffer(size: rotation.swapsAxes ? Size(width: h, height: w) : size)
        let ow = out.size.width
        bytes.withUnsafeBytes { src in
            let s = src.bindMemory(to: UInt32.self)
            out.bytes.withUnsafeMutableBytes { dst in
                let d = dst.bindMemory(to: UInt32.self)
                for py in 0..<h {
                    for px in 0..<w {
                        let (lx, ly) = rotation.logicalPoint(panelX: px, panelY: py, panel: size)
                        d[ly * ow + lx] = s[py * w + px]
                    }
                }
            }
        }
        return out
    }
}

extension Rotation {
    /// Where the panel pixel (x, y) lies in the logical picture (what the viewer sees).
    /// `panel` is the panel's (unrotated mode) size.
    public func logicalPoint(panelX x: Int, panelY y: Int, panel: Size) -> (x: Int, y: Int) {
        switch self {
        case .none: (x, y)
        // The panel is turned clockwise, so the picture is drawn turned counter-clockwise on it.
        case .quarter: (panel.height - 1 - y, x)
        case .half: (panel.width - 1 - x, panel.height - 1 - y)
        case .threeQuarters: (y, panel.width - 1 - x)
        }
    }
}

// MARK: - The renderer role

public enum RendererKind: String, Sendable, CaseIterable {
    /// OpenGL ES 3 through EGL (GBM surfaces on DRM, surfaceless offscreen headless).
    case gles
    /// swscale into CPU memory (DRM dumb buffers, headless memory).
    case cpu
}

extension Renderer {
    public var drawsIncrementally: Bool { false }
    public var targetKinds: BackendCapabilities { kind.targetKinds }
    public func finish() {}
}

/// What one `draw` did, for stats and benchmarks.
public struct RenderStats: Sendable {
    /// Tiles drawn again this frame (the rest were unchanged in the target).
    public var tilesDrawn: Int = 0
    /// Tiles whose picture came from a new frame (uploaded or converted).
    public var framesConverted: Int = 0
    /// Whether the whole target was redrawn (first use, new scene geometry).
    public var fullRedraw: Bool = false
    /// The stream pictures the target holds after this draw, new or not (one per tile showing a
    /// picture): the caller tells new ones by identity for latency figures (`FirstShow`).
    public var pictures: [any VideoFrame] = []
    public init() {}
}

/// Draws an `OutputScene` into a framebuffer. Two implementations (GLESRenderer, CPURenderer) draw
/// the same picture for the same scene. A renderer belongs to one render thread: every method is
/// called on that thread (EGL contexts are thread-bound).
public protocol Renderer: AnyObject {
    var kind: RendererKind { get }
    /// The kinds of targets this renderer draws into (`kind.targetKinds`): read by the pairing
    /// (`OutputFactory`), which refuses a backend whose outputs hand out none of them.
    var targetKinds: BackendCapabilities { get }
    /// Whether `draw` redraws only the tiles that changed since the target last held them, so that
    /// calling it again as pictures arrive costs only those (the CPU renderer). The render loop then
    /// keeps the output's next buffer up to date between refreshes (`Output.nextBuffer`).
    var drawsIncrementally: Bool { get }
    /// Makes an offscreen framebuffer of `size` (panel orientation) this renderer can draw into:
    /// memory for the CPU renderer, an FBO for GLES. Called by benchmarks and tests that draw
    /// without an output. The caller owns the target.
    func makeOffscreenTarget(size: Size) throws -> any RenderTarget
    /// Draws `output` into `target`, turned by `output.rotation` onto the panel. Reads each visible
    /// stream's newest frame through `sources` and never waits for one. Called on the render thread
    /// with the buffer an output handed out (`Output.nextBuffer`), once per refresh and, for an
    /// incremental renderer, as pictures arrive between refreshes; returns what it did.
    func draw(_ output: OutputScene, sources: any FrameSourceLookup, into target: any RenderTarget) throws -> RenderStats
    /// Copies what `target` holds (panel orientation) into memory, for snapshots and tests.
    /// Called on the render thread after `draw` (snapshots read an output's `PixelReadback.currentBuffer`);
    /// the caller owns the returned buffer.
    func readPixels(of target: any RenderTarget) throws -> MemoryBuffer
    /// Waits until everything drawn so far is done (GLES: glFinish): benchmarks time a frame with
    /// it. The CPU renderer draws synchronously and returns at once. Called on the render thread.
    func finish()
}

// MARK: - Which pictures are new on an output

/// Tells, draw after draw, which stream pictures an output holds for the first time: the moment a
/// picture reaches the output buffer, which latency figures measure up to. A picture drawn again
/// (the next refresh, the other buffer of a double-buffered output) is not new. Belongs to the
/// output's render thread.
public struct FirstShow {
    /// The previous draw's pictures, held so that their identities cannot be reused meanwhile.
    private var previous: [ObjectIdentifier: any VideoFrame] = [:]
    public init() {}

    /// The pictures of `pictures` (one draw's `RenderStats.pictures`) that the previous draw did not hold.
    public mutating func newPictures(_ pictures: [any VideoFrame]) -> [any VideoFrame] {
        var current: [ObjectIdentifier: any VideoFrame] = [:]
        current.reserveCapacity(pictures.count)
        var fresh: [any VideoFrame] = []
        for p in pictures {
            let id = ObjectIdentifier(p)
            if previous[id] == nil && current[id] == nil { fresh.append(p) }
            current[id] = p
        }
        // Every picture of the previous draw is still held when all of this draw's were in it and
        // the counts match: nothing to let go of.
        if !(fresh.isEmpty && current.count == previous.count) { FrameRelease.later(previous) }
        previous = current
        return fresh
    }
}

/// Where the render thread lets go of pictures it no longer draws. The last reference to a decoded
/// picture can free its decoder's whole buffer pool (when its stream closed or reopened
/// meanwhile), and that free() contends with every decode thread busy opening streams: 200 ms on
/// the render thread, measured when 250 streams reopened at once. Handed here, the references are
/// dropped on a thread of their own instead, a little later (by then the caller has let go of its
/// own copies, so this release is the last).
///
/// One thread that drops whatever is due every `period`, not a dispatch queue with a timer per hand-off:
/// at 250 streams the render thread hands over several hundred times a second, and GCD's timers and
/// shared worker threads, competing with the decoders, fell behind. Every picture not yet let go keeps
/// its buffer out of its decoder's pool, so the decoders allocated (and the kernel zeroed) new ones:
/// 100-180 MiB more resident memory a second and decoding 3.5x as expensive, until the wall stalled
/// (250 × 320x180@15: 661 MiB flat with this thread, 4.3 GiB after 30 s with the queue).
public enum FrameRelease {
    /// How long a hand-off is held before it is dropped, and how often the thread looks.
    static let delay = Duration.milliseconds(20)
    static let period = Duration.milliseconds(10)

    private static let pending = Mutex<[(due: ContinuousClock.Instant, holder: any Sendable)]>([])
    private static let worker: WorkerThread = {
        let w = WorkerThread(name: "frame release", stackSize: 256 << 10)
        w.start { while w.sleep(for: period) { dropDue(now: .now) } }
        return w
    }()

    /// Drops `holder` (pictures, or anything holding them) on the release thread, `delay` from now.
    public static func later<T: Sendable>(_ holder: T) {
        _ = worker
        let due = ContinuousClock.now + delay
        pending.withLock { $0.append((due, holder)) }
    }

    /// Drops, outside the lock, what is due by `now`.
    static func dropDue(now: ContinuousClock.Instant) {
        let due: [(due: ContinuousClock.Instant, holder: any Sendable)] = pending.withLock { p in
            guard let first = p.first, first.due <= now else { return [] }
            let n = p.firstIndex { $0.due > now } ?? p.count
            let taken = Array(p[..<n])
            p.removeFirst(n)
            return taken
        }
        _ = due
    }
}
