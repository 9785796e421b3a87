/// The output backend role: where rendered pictures go (DRM/KMS displays, headless memory and PNGs).

/// What kinds of framebuffers a backend can show, so Kiosk can pair it with a renderer
/// (GLES needs a GPU surface; the CPU renderer needs CPU buffers).
public struct BackendCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// CPU-writable buffers (DRM dumb buffers, memory).
    public static let cpuBuffers = BackendCapabilities(rawValue: 1)
    /// GPU surfaces (GBM + EGL on DRM; surfaceless offscreen EGL headless).
    public static let gpuSurfaces = BackendCapabilities(rawValue: 2)
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

/// A renderer that can draw into a backend's GPU surface (the GLES renderer).
public protocol SurfaceRenderer: Renderer {
    /// Makes a target that draws into `surface` (an EGL window surface on it). Called by the DRM
    /// backend on the render thread when it brings an output up; the backend owns the target and
    /// releases it before the surface.
    func makeSurfaceTarget(_ surface: NativeSurface) throws -> any RenderTarget
    /// Finishes drawing into a surface target and makes its picture the surface's front buffer
    /// (eglSwapBuffers). Called by the backend, on the render thread, before it locks that buffer.
    func present(_ target: any RenderTarget) throws
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
    /// Draws `scene` with `renderer` into the output's next buffer and shows it (page flip; for
    /// headless, the buffer becomes the current picture). Called on the render thread after
    /// `waitForFrame`. Returns what the renderer did.
    @discardableResult
    func present(_ scene: OutputScene, renderer: any Renderer, sources: any FrameSourceLookup) throws -> RenderStats
    /// Draws `scene` into the buffer the next `present` shows, without showing it, so that a
    /// picture arriving between refreshes is in that buffer within milliseconds instead of waiting
    /// for the refresh. For renderers that draw only what changed (`Renderer.drawsIncrementally`);
    /// any number of times before `present`. Does nothing (empty stats) while the output has no
    /// free buffer (DRM: both in use until the flip completes). Called on the render thread.
    @discardableResult
    func prepare(_ scene: OutputScene, renderer: any Renderer, sources: any FrameSourceLookup) throws -> RenderStats
    /// When the next `present` is due: the next clock tick (headless), or a few milliseconds before
    /// the next vertical blank, estimated from the last page flip (DRM). The render loop prepares
    /// until then. Nil when unknown (no pacing, no flip yet): then the loop draws at
    /// `waitForFrame` and does not prepare.
    var presentDue: ContinuousClock.Instant? { get }
}

/// A family of outputs: DRM/KMS (the kiosk's displays) or headless (tests, previews, benchmarks).
/// Constructors and `stop` come in pairs; a backend is used from the render thread only.
public protocol OutputBackend: AnyObject {
    var capabilities: BackendCapabilities { get }
    /// The outputs currently lit, in layout order. Changes after `start` and `handleEvents`
    /// (hot-plug). The backend owns them.
    var outputs: [any Output] { get }
    /// Opens the device (DRM: becomes master, sets modes) and lights the outputs. Called once, on the
    /// render thread, with the renderer that will draw (its kind decides the buffer kind).
    func start(renderer: any Renderer) throws
    /// Handles pending device events (DRM: hot-plug re-enumeration). Called on the render thread
    /// between frames; returns whether `outputs` changed.
    func handleEvents() throws -> Bool
    /// Releases the outputs and the device (DRM: drops master). Called on the render thread; the
    /// backend is unusable afterwards.
    func stop()
}
