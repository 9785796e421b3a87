/// The output backend role: where rendered pictures go (DRM/KMS displays, headless memory and PNGs).
///
/// The shape is wlroots': an output hands out the buffer it will show next (`Output.nextBuffer`),
/// a renderer draws into it (`Renderer.draw`), and the output commits it (`Output.commit`: a tested
/// modeset the first time, a page flip after; headless, the buffer becomes the current picture).
/// Which buffers an output hands out is decided once, when the backend starts, by pairing what the
/// backend offers (`OutputBackend.capabilities`) with what the renderer draws into
/// (`Renderer.targetKinds`): Kiosk's `OutputFactory` is the one place that does it.

/// Kinds of render targets: what a backend's outputs can hand out (`OutputBackend.capabilities`)
/// and what a renderer can draw into (`Renderer.targetKinds`). A backend and a renderer pair when
/// the two sets meet.
public struct BackendCapabilities: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// CPU-writable buffers (`CPUBuffer`: DRM dumb buffers, headless memory), allocated by the backend.
    public static let cpuBuffers = BackendCapabilities(rawValue: 1)
    /// GPU targets the renderer makes on the backend's behalf (`GPUTargetMaker`): EGL window
    /// surfaces on GBM surfaces (DRM), offscreen framebuffers on surfaceless EGL (headless).
    public static let gpuSurfaces = BackendCapabilities(rawValue: 2)

    /// "CPU buffers", "GPU surfaces", "CPU buffers or GPU surfaces", "nothing".
    public var description: String {
        let names = [(Self.cpuBuffers, "CPU buffers"), (Self.gpuSurfaces, "GPU surfaces")].filter { contains($0.0) }.map(\.1)
        return names.isEmpty ? "nothing" : names.joined(separator: " or ")
    }
}

extension RendererKind {
    /// What each renderer draws into, declared so that a pairing can be refused before a renderer
    /// is made: the CPU renderer into CPU buffers, GLES into GPU surfaces.
    public var targetKinds: BackendCapabilities {
        switch self {
        case .cpu: .cpuBuffers
        case .gles: .gpuSurfaces
        }
    }
}

/// A window-system surface the GLES renderer binds as its framebuffer (a GBM surface on DRM).
/// Core carries it as plain addresses so that it stays free of C types; the backend that made it
/// and the renderer agree on what they point to (`platform` says which native types they are).
public struct NativeSurface: Sendable, Hashable {
    public enum Platform: String, Sendable { case gbm }
    public var platform: Platform
    /// The native display (`struct gbm_device *`), as an address.
    public var display: UInt
    /// The native window (`struct gbm_surface *`), as an address.
    public var window: UInt
    /// The surface's size (panel orientation).
    public var size: Size
    /// The DRM fourcc the surface was made with.
    public var format: UInt32
    public init(platform: Platform, display: UInt, window: UInt, size: Size, format: UInt32) {
        self.platform = platform; self.display = display; self.window = window; self.size = size; self.format = format
    }
}

/// A target whose picture reaches the native surface only when the frame is finished (an EGL
/// window surface: eglSwapBuffers makes the drawn buffer the surface's front buffer).
public protocol SwapchainTarget: RenderTarget {
    /// Finishes the frame drawn into the target and makes it the surface's front buffer. Called
    /// by the output's `commit`, on the render thread, before it locks that buffer for scan-out.
    func swapBuffers() throws
}

/// Makes GPU render targets for a backend's outputs (the GLES renderer: its targets belong to its
/// EGL context). Handed to `OutputBackend.start` in `OutputBuffers.gpu`.
public protocol GPUTargetMaker: AnyObject {
    /// An offscreen framebuffer of `size` (panel orientation). Called by the headless backend on
    /// the render thread when it lights an output; the output owns the target.
    func makeOffscreenTarget(size: Size) throws -> any RenderTarget
    /// A target that draws into `surface` (an EGL window surface on it). Called by the DRM backend
    /// on the render thread when it lights an output; the output owns the target and releases it
    /// before the surface.
    func makeSurfaceTarget(_ surface: NativeSurface) throws -> any SwapchainTarget
}

/// Where a backend's outputs get the buffers they hand out: one of the backend's `capabilities`,
/// chosen by the pairing.
public enum OutputBuffers {
    /// CPU buffers the backend allocates (`CPUBuffer`s: headless memory, two DRM dumb buffers).
    case cpu
    /// GPU targets `maker` makes: offscreen framebuffers (headless) or window surfaces on the
    /// backend's GBM surfaces (DRM; the maker must live on the backend's GBM device).
    case gpu(any GPUTargetMaker)

    /// The capability these buffers use.
    public var kind: BackendCapabilities {
        switch self {
        case .cpu: .cpuBuffers
        case .gpu: .gpuSurfaces
        }
    }
}

/// A display (or headless picture) the wall draws one layout output on.
public protocol Output: AnyObject {
    /// The layout output id this output shows.
    var id: String { get }
    /// The panel's size in pixels (the mode, unrotated).
    var panelSize: Size { get }
    var rotation: Rotation { get }
    /// Blocks until the output can take the next frame: a page-flip event (DRM, one frame in
    /// flight) or the next clock tick (headless). Called on the render thread.
    func waitForFrame() throws
    /// The buffer the next `commit` shows, for the renderer to draw this output's scene into
    /// (panel orientation). The same buffer until that commit, so it may be drawn into any number
    /// of times before: an incremental renderer keeps it up to date between refreshes. Nil while
    /// the output has none to hand out: DRM with both buffers in use until the flip in flight
    /// completes (its event is read without waiting), or with the VT switched away. Called on the
    /// render thread; the output owns the buffer.
    func nextBuffer() throws -> (any RenderTarget)?
    /// Shows the buffer `nextBuffer` handed out: DRM tests the modeset (TEST_ONLY) before it
    /// commits it the first time, then queues a page flip; headless, the buffer becomes the
    /// current picture. Called on the render thread after `waitForFrame` and the draw; throws when
    /// no buffer was handed out since the last commit.
    func commit() throws
    /// When the next `commit` is due: the next clock tick (headless), or a few milliseconds before
    /// the next vertical blank, estimated from the last page flip (DRM). The render loop keeps the
    /// next buffer up to date until then. Nil when unknown (no pacing, no flip yet): then the loop
    /// draws at `waitForFrame` only.
    var presentDue: ContinuousClock.Instant? { get }
}

/// An output whose current picture can be read back (the headless output: snapshots, previews).
/// DRM scan-out buffers are not read back.
public protocol PixelReadback: Output {
    /// The buffer the output shows now (the last committed), for `Renderer.readPixels`; nil before
    /// the first commit. Called on the render thread.
    var currentBuffer: (any RenderTarget)? { get }
}

/// Why an output refused a scene.
public enum OutputSceneError: Error, Equatable, CustomStringConvertible {
    /// The scene was built for another rotation than the output's panel.
    case rotation(output: String, panel: Rotation, scene: Rotation)

    public var description: String {
        switch self {
        case .rotation(let id, let panel, let scene):
            "output \(id) is rotated \(panel.rawValue)°, the scene \(scene.rawValue)°: build the scene for this output's layout entry"
        }
    }
}

extension Output {
    /// Throws unless `scene` was built for this output's rotation.
    public func check(_ scene: OutputScene) throws(OutputSceneError) {
        guard scene.rotation == rotation else { throw .rotation(output: id, panel: rotation, scene: scene.rotation) }
    }

    /// One frame for a caller that does not time the steps (previews, tests, `tessera outputs
    /// --frames`): the next buffer, `scene` drawn into it by `renderer`, committed. Returns what the
    /// renderer did, or nil when the output had no buffer to hand out. Call after `waitForFrame`.
    @discardableResult
    public func render(_ scene: OutputScene, with renderer: any Renderer, sources: any FrameSourceLookup) throws -> RenderStats? {
        try check(scene)
        guard let buffer = try nextBuffer() else { return nil }
        let stats = try renderer.draw(scene, sources: sources, into: buffer)
        try commit()
        return stats
    }
}

/// A family of outputs: DRM/KMS (the kiosk's displays) or headless (tests, previews, benchmarks).
/// Constructors and `stop` come in pairs; a backend is used from the render thread only.
public protocol OutputBackend: AnyObject {
    /// "headless", "DRM": for messages.
    var name: String { get }
    /// The kinds of buffers this backend's outputs can hand out. Read by the pairing
    /// (`OutputFactory`) before `start`; DRM narrows it once the card is open (dumb buffers are a
    /// driver capability).
    var capabilities: BackendCapabilities { get }
    /// The outputs currently lit, in layout order. Changes after `start` and `handleEvents`
    /// (hot-plug). The backend owns them.
    var outputs: [any Output] { get }
    /// Opens the device (DRM: becomes master, sets modes) and lights the outputs with buffers from
    /// `buffers` (one of `capabilities`; anything else throws). Called once, on the render thread.
    func start(buffers: OutputBuffers) throws
    /// Handles pending device events (DRM: hot-plug re-enumeration). Called on the render thread
    /// between frames; returns whether `outputs` changed.
    func handleEvents() throws -> Bool
    /// Releases the outputs and the device (DRM: drops master). Called on the render thread; the
    /// backend is unusable afterwards.
    func stop()
}
