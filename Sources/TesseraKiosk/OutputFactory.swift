import Logging
import TesseraCore
import TesseraOutput
import TesseraRender

/// What a render thread draws with: a started backend and the renderer paired with it.
public final class RenderSetup<Backend: OutputBackend> {
    public let backend: Backend
    /// The renderer; unusable after `close`.
    public var renderer: any Renderer { held! }
    private var held: (any Renderer)?
    /// The renderer's text cache (placeholders and benchmarks draw names with it).
    public let text: TextCache
    /// "cpu, 8 workers", "gles, llvmpipe (LLVM 15.0.6, 256 bits)": for logs and benchmark output.
    public let rendererName: String
    /// The kind of buffers the outputs hand out.
    public let buffers: BackendCapabilities

    init(backend: Backend, renderer: any Renderer, text: TextCache, rendererName: String, buffers: BackendCapabilities) {
        self.backend = backend; held = renderer; self.text = text; self.rendererName = rendererName; self.buffers = buffers
    }

    /// Stops the backend, then lets the renderer go while the backend still lives (a GLES
    /// renderer's EGL display lives on the DRM backend's GBM device: the other way round, its
    /// teardown crashes). Callers that keep the renderer elsewhere order it themselves.
    public func close() {
        backend.stop()
        held = nil
    }
}

/// A renderer and a backend that cannot work together: what each offers and what to do.
public struct OutputPairingError: Error, Equatable, CustomStringConvertible {
    public let renderer: RendererKind
    /// The backend's `name` ("headless", "DRM").
    public let backend: String
    /// The card, for DRM.
    public let device: String?
    /// What the backend's outputs can hand out.
    public let offers: BackendCapabilities

    public var description: String {
        let on = device.map { " on \($0)" } ?? ""
        let fits = RendererKind.allCases.filter { !$0.targetKinds.isDisjoint(with: offers) }.map(\.rawValue)
        let advice = fits.isEmpty ? "this backend has no buffers any renderer draws into; use another backend (--backend headless)"
                                  : "use --renderer \(fits.joined(separator: " or "))"
        return "the \(renderer.rawValue) renderer draws into \(renderer.targetKinds), but the \(backend) backend\(on) offers \(offers): \(advice)"
    }
}

/// The one place renderers and output backends are paired, from what each declares: a renderer
/// the target kinds it draws into (`RendererKind.targetKinds`), a backend the buffers its outputs
/// hand out (`OutputBackend.capabilities`). Used by the kiosk's render threads, `tessera preview`,
/// `tessera outputs --frames` and the render benchmarks.
public enum OutputFactory {
    /// The kind of buffers `renderer` draws into on a backend offering `capabilities`; throws when
    /// they do not meet.
    public static func pair(_ renderer: RendererKind, backend: String, capabilities: BackendCapabilities,
                            device: String? = nil) throws(OutputPairingError) -> BackendCapabilities {
        let common = renderer.targetKinds.intersection(capabilities)
        // Each renderer draws into one kind; should one ever draw into several, CPU buffers win
        // (no GPU needed).
        if common.contains(.cpuBuffers) { return .cpuBuffers }
        if common.contains(.gpuSurfaces) { return .gpuSurfaces }
        throw OutputPairingError(renderer: renderer, backend: backend, device: device, offers: capabilities)
    }

    /// Headless outputs paced at `refresh` frames a second (nil: unpaced), with a `kind` renderer
    /// paired to them, started. Call on the thread that will draw (EGL contexts are bound to it).
    /// `workers` is the CPU renderer's tile threads (default: the machine's cores); `fonts` a
    /// font stack to share; `logger` gets the renderer's problems.
    public static func headless(_ specs: [HeadlessBackend.OutputSpec], refresh: Double?, renderer kind: RendererKind,
                                workers: Int? = nil, fonts: FontStack? = nil,
                                logger: Logger = .discarding("tessera.output")) throws -> RenderSetup<HeadlessBackend> {
        try start(HeadlessBackend(outputs: specs, refresh: refresh), renderer: kind, gbmDevice: nil, workers: workers, fonts: fonts, logger: logger)
    }

    /// The displays of a DRM device (`device` nil: the first card with a connected display), with a
    /// `kind` renderer paired to them (GLES made on the card's GBM device), started: master taken,
    /// outputs planned and lit. `logger` gets the backend's events (modes, hot-plug, VT, fallbacks)
    /// and the renderer's problems, with `output` metadata.
    public static func drm(_ specs: [DRMOutputSpec], device: String? = nil,
                           renderer kind: RendererKind, workers: Int? = nil, fonts: FontStack? = nil,
                           logger: Logger = .discarding("tessera.output")) throws -> RenderSetup<DRMBackend> {
        let backend = DRMBackend(outputs: specs, device: device, logger: logger)
        try backend.open()
        do {
            return try start(backend, device: backend.devicePath, renderer: kind, gbmDevice: { try backend.gbmDevice() },
                             workers: workers, fonts: fonts, logger: logger)
        } catch {
            backend.stop()
            throw error
        }
    }

    private static func start<Backend: OutputBackend>(_ backend: Backend, device: String? = nil, renderer kind: RendererKind,
                                                      gbmDevice: (() throws -> UInt)?,
                                                      workers: Int?, fonts: FontStack?, logger: Logger) throws -> RenderSetup<Backend> {
        let buffers = try pair(kind, backend: backend.name, capabilities: backend.capabilities, device: device)
        let made = try makeRenderer(kind, gbmDevice: kind == .gles ? try gbmDevice?() : nil, workers: workers, fonts: fonts, logger: logger)
        try backend.start(buffers: made.buffers)
        return RenderSetup(backend: backend, renderer: made.renderer, text: made.text, rendererName: made.name, buffers: buffers)
    }

    private static func makeRenderer(_ kind: RendererKind, gbmDevice: UInt?, workers: Int?, fonts: FontStack?, logger: Logger) throws
        -> (renderer: any Renderer, buffers: OutputBuffers, text: TextCache, name: String) {
        switch kind {
        case .cpu:
            let cpu = try workers.map { try CPURenderer(fonts: fonts, workers: $0) } ?? CPURenderer(fonts: fonts)
            return (cpu, .cpu, cpu.text, "cpu, \(cpu.workers) workers")
        case .gles:
            let gles = try GLESRenderer(platform: gbmDevice.map { .gbm(device: $0) } ?? .surfaceless, fonts: fonts, logger: logger)
            return (gles, .gpu(gles), gles.text, "gles, \(gles.rendererName)")
        }
    }
}
