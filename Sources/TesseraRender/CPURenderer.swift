import Foundation
import Synchronization
import TesseraCore

/// Draws scenes with swscale straight into CPU memory (DRM dumb buffers, headless memory).
///
/// Only tiles whose picture or decoration changed since the target last held them are drawn again
/// (tracked per target, so double-buffered outputs stay correct), spread over the cores. Rotated
/// outputs are drawn into a logical canvas and the changed tiles turned onto the panel.
///
/// Memory kept between draws, besides the targets: a swscale context per tile shown (scalers of
/// tiles a scene no longer has are dropped with it), and one scratch picture per worker thread,
/// each at most what the largest tile shown on any live target needs (`scratchBytes`).
public final class CPURenderer: Renderer {
    public let kind = RendererKind.cpu
    public var drawsIncrementally: Bool { true }
    public let text: TextCache
    /// Worker threads for tile conversion (default: the machine's cores).
    public var workers: Int

    private var memories: [ObjectIdentifier: TargetMemory] = [:]
    private var scalers: [ScalerKey: TileScaler] = [:]
    /// One per worker thread (`ScaleScratch`); index 0 also serves the tiles drawn in order.
    private var scratches: [ScaleScratch] = []

    public init(fonts: FontStack? = nil, workers: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        self.text = TextCache(fonts: try fonts ?? FontStack())
        self.workers = max(1, workers)
    }

    public func makeOffscreenTarget(size: Size) throws -> any RenderTarget { MemoryBuffer(size: size) }

    public func readPixels(of target: any RenderTarget) throws -> MemoryBuffer {
        guard let buffer = target as? any CPUBuffer else { throw RenderError.unsupportedTarget(renderer: kind, target: "\(type(of: target))") }
        return MemoryBuffer.copy(of: buffer)
    }

    /// Bytes the scratch pictures hold: at most `workers` times what the largest tile shown on a
    /// live target needs (about 3 bytes a pixel of its scaled picture), whatever the tile count.
    public var scratchBytes: Int { scratches.reduce(0) { $0 + $1.capacity } }
    /// What the scratch pictures of every CPU renderer in the process hold (`tessera_render_scratch_bytes`).
    public static var scratchBytesInProcess: Int { ScaleScratch.held.load(ordering: .relaxed) }
    /// swscale contexts kept: one per tile of the scenes last drawn on each output.
    public var scalerCount: Int { scalers.count }

    /// Forget what every target holds: the next draw into each is a full redraw.
    public func invalidate() { memories.removeAll() }

    public func draw(_ output: OutputScene, sources: any FrameSourceLookup, into target: any RenderTarget) throws -> RenderStats {
        guard let buffer = target as? any CPUBuffer else { throw RenderError.unsupportedTarget(renderer: kind, target: "\(type(of: target))") }
        let logical = output.rotation.swapsAxes ? Size(width: target.size.height, height: target.size.width) : target.size
        guard logical == output.size else {
            throw RenderError.cpu(operation: "draw output \(output.id): scene is \(output.size.width)x\(output.size.height), target is \(logical.width)x\(logical.height) after rotation")
        }
        memories = memories.filter { $0.value.target != nil }
        let memory = memories[ObjectIdentifier(target)] ?? TargetMemory(target: target)
        memories[ObjectIdentifier(target)] = memory

        let plans = output.tiles.map { TilePlan.make($0, sources: sources, text: text) }
        let geometry = SceneGeometry(size: output.size, rotation: output.rotation, background: output.background, rects: output.tiles.map(\.rect))
        var stats = RenderStats()
        var dirty: [Bool]
        if memory.geometry != geometry || memory.stamps.count != plans.count {
            stats.fullRedraw = true
            dirty = Array(repeating: true, count: plans.count)
        } else {
            dirty = zip(memory.stamps, plans).map { !$0.same(as: $1.stamp) }
            // A redrawn tile paints its whole rect: later tiles overlapping it must be drawn again.
            for i in plans.indices where dirty[i] {
                for j in (i + 1)..<plans.count where !dirty[j] && plans[j].tile.rect.intersects(plans[i].tile.rect) { dirty[j] = true }
            }
        }
        let chosen = plans.indices.filter { dirty[$0] }
        stats.tilesDrawn = chosen.count
        stats.framesConverted = chosen.filter { i in
            plans[i].placement != nil && (stats.fullRedraw || memory.stamps[i].frame != plans[i].stamp.frame)
        }.count
        if stats.fullRedraw {
            // A new scene: the scalers of tiles it no longer has go, and what it needs is learnt afresh.
            scalers = scalers.filter { $0.key.output != output.id || $0.key.tile < plans.count }
            memory.largestScratch = 0
        }
        let scalers = chosen.map { i in scaler(output.id, i) }
        for i in chosen {
            if let frame = plans[i].frame, let placement = plans[i].placement {
                memory.largestScratch = max(memory.largestScratch, ScaleScratch.Layout.of(frame, placement).bytes)
            }
        }

        // Rotated outputs: draw in viewer orientation, then turn the changed rects onto the panel.
        let canvas: any CPUBuffer
        if output.rotation == .none {
            canvas = buffer
        } else {
            if memory.canvas?.size != output.size { memory.canvas = MemoryBuffer(size: output.size) }
            canvas = memory.canvas!
        }
        let failure = Mutex<RenderError?>(nil)
        canvas.withMutableBytes { span in
            span.withUnsafeMutableBytes { raw in
                let surface = Surface(base: raw.baseAddress!, stride: canvas.stride, size: output.size)
                if stats.fullRedraw { surface.fill(Rect(x: 0, y: 0, width: output.size.width, height: output.size.height), output.background) }
                // Tiles that overlap another chosen tile keep their order; the rest go in parallel.
                var ordered = [Bool](repeating: false, count: chosen.count)
                for a in chosen.indices {
                    for b in (a + 1)..<chosen.count where plans[chosen[a]].tile.rect.intersects(plans[chosen[b]].tile.rect) {
                        ordered[a] = true; ordered[b] = true
                    }
                }
                let parallel = chosen.indices.filter { !ordered[$0] }
                let next = Atomic<Int>(0)
                let jobs = chosen.indices.map { k in TileJob(plan: plans[chosen[k]], scaler: scalers[k]) }
                let threads = min(workers, max(1, parallel.count / 4))
                while scratches.count < threads { scratches.append(ScaleScratch()) }
                let pool = ScratchPool(scratches: scratches)
                let run = { @Sendable (k: Int, worker: Int) in
                    do throws(RenderError) { try surface.drawTile(jobs[k].plan, scaler: jobs[k].scaler, scratch: pool.scratches[worker]) } catch {
                        failure.withLock { $0 = $0 ?? error }
                    }
                }
                if threads <= 1 {
                    parallel.forEach { run($0, 0) }
                } else {
                    DispatchQueue.concurrentPerform(iterations: threads) { worker in
                        while true {
                            let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
                            if n >= parallel.count { break }
                            run(parallel[n], worker)
                        }
                    }
                }
                for k in chosen.indices where ordered[k] { run(k, 0) }
            }
        }
        // Scratch beyond what the largest tile now shown needs goes (a scene with a big tile left).
        let largest = memories.values.reduce(0) { max($0, $1.target == nil ? 0 : $1.largestScratch) }
        for s in scratches { s.release(above: largest) }
        if let error = failure.withLock({ $0 }) {
            memory.geometry = nil // the target holds a half-drawn picture: redraw it all next time
            throw error
        }
        if output.rotation != .none, let logicalCanvas = memory.canvas {
            let rects = stats.fullRedraw ? [Rect(x: 0, y: 0, width: output.size.width, height: output.size.height)] : chosen.map { plans[$0].tile.rect }
            Self.turn(logicalCanvas, rects: rects, rotation: output.rotation, onto: buffer)
        }
        memory.geometry = geometry
        // The pictures this target held until now are let go off the render thread (when no tile
        // was drawn, the new stamps hold the same pictures).
        if !chosen.isEmpty { FrameRelease.later(memory.stamps) }
        memory.stamps = plans.map(\.stamp)
        stats.pictures = plans.compactMap { $0.placement != nil ? $0.frame : nil }
        return stats
    }

    private func scaler(_ output: String, _ index: Int) -> TileScaler {
        let key = ScalerKey(output: output, tile: index)
        if let s = scalers[key] { return s }
        let s = TileScaler()
        scalers[key] = s
        return s
    }

    /// Copies `rects` of the logical canvas onto the panel buffer, turned by `rotation`.
    static func turn(_ canvas: MemoryBuffer, rects: [Rect], rotation: Rotation, onto panel: any CPUBuffer) {
        let lw = canvas.size.width, ps = panel.size
        canvas.withBytes { src in
            src.withUnsafeBytes { s in
                let px = s.bindMemory(to: UInt32.self)
                panel.withMutableBytes { dst in
                    dst.withUnsafeMutableBytes { d in
                        let stride = panel.stride / 4
                        let out = d.bindMemory(to: UInt32.self)
                        for r in rects {
                            for ly in r.minY..<r.maxY {
                                for lx in r.minX..<r.maxX {
                                    // Inverse of Rotation.logicalPoint.
                                    let (x, y): (Int, Int) = switch rotation {
                                    case .none: (lx, ly)
                                    case .quarter: (ly, ps.height - 1 - lx)
                                    case .half: (ps.width - 1 - lx, ps.height - 1 - ly)
                                    case .threeQuarters: (ps.width - 1 - ly, lx)
                                    }
                                    out[y * stride + x] = px[ly * lw + lx]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One tile's work for a worker thread.
private struct TileJob: @unchecked Sendable {
    // Unchecked: each job, and so each scaler, is taken by exactly one worker.
    let plan: TilePlan
    let scaler: TileScaler
}

/// The workers' scratch pictures, shared with the worker closures.
private struct ScratchPool: @unchecked Sendable {
    // Unchecked: worker w uses scratches[w] only; the tiles drawn in order use scratches[0] after the workers are done.
    let scratches: [ScaleScratch]
}

private struct ScalerKey: Hashable { var output: String; var tile: Int }

private struct SceneGeometry: Equatable {
    var size: Size
    var rotation: Rotation
    var background: Color
    var rects: [Rect]
}

/// What one target holds, so the next draw into it redraws only what changed.
private final class TargetMemory {
    weak var target: AnyObject?
    var geometry: SceneGeometry?
    var stamps: [TileStamp] = []
    var canvas: MemoryBuffer?
    /// Scratch bytes the largest tile of the scene this target holds needs (`ScaleScratch.Layout`).
    var largestScratch = 0
    init(target: AnyObject) { self.target = target }
}

/// A BGRA pixel area the tile workers draw into; each tile writes only inside its own rect.
struct Surface: @unchecked Sendable {
    // Unchecked: workers share the base pointer but never the same pixels (overlapping tiles run in order).
    let base: UnsafeMutableRawPointer
    let stride: Int
    let size: Size

    private func clipped(_ r: Rect) -> Rect? { r.intersection(Rect(x: 0, y: 0, width: size.width, height: size.height)) }

    func drawTile(_ plan: TilePlan, scaler: TileScaler, scratch: ScaleScratch) throws(RenderError) {
        for op in plan.under { execute(op) }
        if let frame = plan.frame, let placement = plan.placement {
            let d = placement.destination
            if clipped(d) == d {
                try scaler.convert(frame, placement, destination: base.advanced(by: d.y * stride + d.x * 4), stride: stride, scratch: scratch)
            }
        }
        for op in plan.over { execute(op) }
    }

    func execute(_ op: DrawOp) {
        switch op {
        case .fill(let rect, let color): fill(rect, color)
        case .text(let image, let origin, let clip, let color): text(image, at: origin, clip: clip, color: color)
        }
    }

    func fill(_ rect: Rect, _ color: Color) {
        guard let r = clipped(rect) else { return }
        if color.alpha == 255 {
            let pixel = UInt32(color.blue) | UInt32(color.green) << 8 | UInt32(color.red) << 16 | 0xff00_0000
            for y in r.minY..<r.maxY {
                let row = (base + y * stride + r.x * 4).bindMemory(to: UInt32.self, capacity: r.width)
                for x in 0..<r.width { row[x] = pixel }
            }
        } else {
            // One colour over many pixels: its share of each channel is the same everywhere.
            let a = UInt32(color.alpha), na = 255 &- a
            let cb = UInt32(color.blue) &* a &+ 127, cg = UInt32(color.green) &* a &+ 127, cr = UInt32(color.red) &* a &+ 127
            for y in r.minY..<r.maxY {
                let row = (base + y * stride + r.x * 4).bindMemory(to: UInt32.self, capacity: r.width)
                for x in 0..<r.width {
                    let p = row[x]
                    let b = ((p & 0xff) &* na &+ cb) / 255
                    let g = ((p >> 8 & 0xff) &* na &+ cg) / 255
                    let rr = ((p >> 16 & 0xff) &* na &+ cr) / 255
                    row[x] = b | g << 8 | rr << 16 | 0xff00_0000
                }
            }
        }
    }

    func text(_ image: TextImage, at origin: Point, clip: Rect, color: Color) {
        guard image.width > 0, let area = Rect(x: origin.x, y: origin.y, width: image.width, height: image.height).intersection(clip),
              let r = clipped(area) else { return }
        image.coverage.withUnsafeBufferPointer { cov in
            for y in r.minY..<r.maxY {
                let row = (base + y * stride).bindMemory(to: UInt8.self, capacity: size.width * 4)
                let src = (y - origin.y) * image.width - origin.x
                for x in r.minX..<r.maxX {
                    let c = UInt32(cov[src + x])
                    if c == 0 { continue }
                    blend(row + x * 4, color, (c &* UInt32(color.alpha) &+ 127) / 255)
                }
            }
        }
    }

    /// `c` at opacity `a` (0–255) over `p`, rounded to nearest; the pixel ends opaque.
    @inline(__always)
    private func blend(_ p: UnsafeMutablePointer<UInt8>, _ c: Color, _ a: UInt32) {
        let na = 255 &- a
        p[0] = UInt8(truncatingIfNeeded: (UInt32(c.blue) &* a &+ UInt32(p[0]) &* na &+ 127) / 255)
        p[1] = UInt8(truncatingIfNeeded: (UInt32(c.green) &* a &+ UInt32(p[1]) &* na &+ 127) / 255)
        p[2] = UInt8(truncatingIfNeeded: (UInt32(c.red) &* a &+ UInt32(p[2]) &* na &+ 127) / 255)
        p[3] = 255
    }
}
