import Foundation
import TesseraCore

/// Outputs without displays: each output is one framebuffer (memory for the CPU renderer, an
/// offscreen FBO the GLES renderer makes), paced by a clock. Tests, `tessera preview`, benchmarks
/// and headless end-to-end runs use it. Snapshots are what a viewer sees (rotation undone).
public final class HeadlessBackend: OutputBackend {
    public struct OutputSpec: Sendable, Hashable {
        public var id: String
        /// The panel's size (the mode, unrotated).
        public var panelSize: Size
        public var rotation: Rotation
        public init(id: String, panelSize: Size, rotation: Rotation = .none) {
            self.id = id; self.panelSize = panelSize; self.rotation = rotation
        }
    }

    public let name = "headless"
    public let capabilities: BackendCapabilities = [.cpuBuffers, .gpuSurfaces]
    public let specs: [OutputSpec]
    /// Frames per second of the pacing clock; nil for as fast as the caller draws.
    public let refresh: Double?
    private var lit: [HeadlessOutput] = []

    public init(outputs: [OutputSpec], refresh: Double? = 60) {
        self.specs = outputs; self.refresh = refresh
    }

    public var outputs: [any Output] { lit }
    public var headlessOutputs: [HeadlessOutput] { lit }

    public func start(buffers: OutputBuffers) throws {
        lit = try specs.map { spec in
            let target: any RenderTarget = switch buffers {
            case .cpu: MemoryBuffer(size: spec.panelSize)
            case .gpu(let maker): try maker.makeOffscreenTarget(size: spec.panelSize)
            }
            return HeadlessOutput(spec: spec, target: target, interval: refresh.map { .seconds(1 / $0) })
        }
    }

    public func handleEvents() throws -> Bool { false }

    public func stop() { lit.removeAll() }

    /// The output showing layout output `id`.
    public func output(_ id: String) -> HeadlessOutput? { lit.first { $0.id == id } }
}

public final class HeadlessOutput: PixelReadback {
    public let id: String
    public let panelSize: Size
    public let rotation: Rotation
    /// The one framebuffer the renderer draws into (panel orientation): handed out by every
    /// `nextBuffer`, shown by every `commit`.
    public let target: any RenderTarget
    private let interval: Duration?
    private var deadline: ContinuousClock.Instant?
    private var handedOut = false
    public private(set) var framesPresented = 0
    /// The recording in progress (`startRecording`), if any, and the renderer that reads frames back for it.
    public private(set) var recorder: VideoRecorder?
    private var recordingReader: (any Renderer)?

    init(spec: HeadlessBackend.OutputSpec, target: any RenderTarget, interval: Duration?) {
        id = spec.id; panelSize = spec.panelSize; rotation = spec.rotation
        self.target = target; self.interval = interval
    }

    public func waitForFrame() throws {
        guard let interval else { return }
        let now = ContinuousClock.now
        let due = deadline ?? now
        if due > now { Thread.sleep(forTimeInterval: Double((due - now).components.attoseconds) / 1e18 + Double((due - now).components.seconds)) }
        // Missed ticks are dropped, as a display would: the next frame is one interval after this one.
        deadline = max(due, now) + interval
    }

    /// The next tick; nil when unpaced.
    public var presentDue: ContinuousClock.Instant? { interval == nil ? nil : deadline }

    /// The one framebuffer, which a viewer (snapshot, recording) reads only after `commit`.
    public func nextBuffer() throws -> (any RenderTarget)? {
        handedOut = true
        return target
    }

    public func commit() throws {
        guard handedOut else { throw OutputError.config("output \(id): commit without a buffer from nextBuffer") }
        handedOut = false
        framesPresented += 1
        if let recorder, let reader = recordingReader { try recorder.append(try reader.readPixels(of: target).unrotated(rotation)) }
    }

    /// The framebuffer once something was committed.
    public var currentBuffer: (any RenderTarget)? { framesPresented > 0 ? target : nil }

    /// Records every presented frame, as a viewer sees it (rotation undone), to `path` (.mp4, .mkv:
    /// the container from the name) at `fps`, with the first of `codecs` FFmpeg has, until
    /// `stopRecording`. Called on the render thread.
    /// `renderer` (the one drawing into this output) reads each committed frame back.
    public func startRecording(to path: String, fps: Int = 30, codecs: [String] = ["libx264", "mpeg4"], readingWith renderer: any Renderer) throws {
        try stopRecording()
        let logical = rotation.swapsAxes ? Size(width: panelSize.height, height: panelSize.width) : panelSize
        recorder = try VideoRecorder(path: path, size: logical, fps: fps, codecs: codecs)
        recordingReader = renderer
    }

    /// Finishes the recording (encoder flushed, trailer written); returns how many frames it has.
    @discardableResult
    public func stopRecording() throws -> Int {
        guard let r = recorder else { return 0 }
        recorder = nil; recordingReader = nil
        try r.finish()
        return r.framesWritten
    }

    /// The current picture as a viewer sees it (rotation undone), read back by `renderer`. Called
    /// on the render thread.
    public func snapshot(readingWith renderer: any Renderer) throws -> MemoryBuffer {
        guard let buffer = currentBuffer else { throw OutputError.config("output \(id) has shown nothing yet") }
        return try renderer.readPixels(of: buffer).unrotated(rotation)
    }

    /// Writes the current picture to `path` as PNG (what a viewer sees).
    public func writeSnapshot(to path: String, readingWith renderer: any Renderer) throws {
        try PNGFile.write(try snapshot(readingWith: renderer), to: path)
    }
}
