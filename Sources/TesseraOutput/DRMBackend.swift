import Foundation
internal import CDRM
import Logging
import TesseraCore

/// Real displays through DRM/KMS: the kiosk's backend. It opens a card and becomes DRM master,
/// matches the layout's outputs to connectors (by name, else in order) at the layout's exact mode,
/// gives each a CRTC and primary plane, and shows frames by atomic commits (each modeset tested
/// first with TEST_ONLY, then committed) or, where the driver lacks atomic, drmModeSetCrtc and
/// drmModePageFlip. Frames are paced by page-flip events, one in flight per output.
///
/// Buffers follow the pairing (`start(buffers:)`): CPU buffers are two mapped dumb buffers per
/// output; GPU surfaces are a GBM surface per output with an EGL window surface the renderer makes
/// on it, whose locked front buffer is flipped to (framebuffer ids cached per buffer object). A
/// GLES renderer must be made on this backend's GBM device (Kiosk's `OutputFactory` does this):
///
///     let backend = DRMBackend(outputs: specs)
///     try backend.open()                                   // capabilities now say what the card has
///     let renderer = try GLESRenderer(platform: .gbm(device: try backend.gbmDevice()))
///     try backend.start(buffers: .gpu(renderer))
///
/// Hot-plug (udev "drm" uevents, else polling connector status every 2 s) re-plans the outputs:
/// a display that goes away is turned off, one that comes back is lit again with its part of the
/// layout. On a VT, switching away drops master and switching back sets the modes again.
public final class DRMBackend: OutputBackend {
    public typealias OutputSpec = DRMOutputSpec

    public let name = "DRM"
    /// Both until the card is open (`open`); then dumb buffers only where the driver has them.
    public var capabilities: BackendCapabilities {
        guard let card else { return [.cpuBuffers, .gpuSurfaces] }
        return card.hasDumbBuffers ? [.cpuBuffers, .gpuSurfaces] : .gpuSurfaces
    }
    public let specs: [DRMOutputSpec]
    /// The card asked for, or nil for the first with a connected display.
    public let requestedDevice: String?
    /// Events worth logging (hot-plug, VT switch, fallbacks), on the render thread: with `device`
    /// metadata, and `output` and `connector` for an output's.
    private let logger: Logger

    /// Why layout outputs stay dark, by output id (no connector, no display, mode not offered).
    public private(set) var problems: [String: String] = [:]
    /// Whether commits are atomic (false: legacy SetCrtc/PageFlip).
    public private(set) var usesAtomic = false
    /// The card in use, once opened.
    public var devicePath: String? { card?.path }

    private let forceLegacy: Bool
    private let format = tessera_drm_format_xrgb8888()
    private var card: DRMCard?
    private var gbm: GBMDevice?
    private var buffers: OutputBuffers?
    private var properties: PropertyTable?
    private var lit: [DRMOutput] = []
    private var udev: UdevMonitor?
    private var vt: VTSession?
    private var lastPoll = ContinuousClock.now
    private(set) var active = true
    private var started = false

    /// `forceLegacy` (or TESSERA_DRM_LEGACY=1) skips atomic modesetting even where the driver has it.
    public init(outputs: [DRMOutputSpec], device: String? = nil, forceLegacy: Bool = false,
                logger: Logger = .discarding("tessera.output")) {
        self.specs = outputs; self.requestedDevice = device; self.logger = logger
        self.forceLegacy = forceLegacy || ProcessInfo.processInfo.environment["TESSERA_DRM_LEGACY"] == "1"
    }

    deinit { stop() }

    public var outputs: [any Output] { lit }
    public var drmOutputs: [DRMOutput] { lit }
    public func output(_ id: String) -> DRMOutput? { lit.first { $0.id == id } }

    /// The GBM device (`struct gbm_device *`, as an address) a GLES renderer must be made on
    /// (`GLESRenderer(platform: .gbm(device:))`). Opens the card if needed. Valid until `stop`.
    /// Opens the card (without becoming master), so that `capabilities` and `devicePath` are the
    /// card's. `start` and `gbmDevice` open it too.
    public func open() throws { _ = try openCard() }

    public func gbmDevice() throws -> UInt {
        let card = try openCard()
        if let gbm { return gbm.address }
        let device = try GBMDevice(card: card)
        gbm = device
        return device.address
    }

    public func start(buffers: OutputBuffers) throws {
        guard !started else { throw OutputError.config("DRMBackend.start called twice") }
        let card = try openCard()
        switch buffers {
        case .gpu:
            guard gbm != nil else {
                throw OutputError.config("make the GLES renderer on DRMBackend.gbmDevice() before start (\(card.path))")
            }
        case .cpu:
            guard card.hasDumbBuffers else {
                throw OutputError.drm(operation: "DRM_CAP_DUMB_BUFFER (CPU buffers need dumb buffers; use the GLES renderer)", device: card.path, errno: ENOTSUP)
            }
        }
        try card.setMaster()
        usesAtomic = !forceLegacy && card.enableAtomic()
        if !usesAtomic { logger.info("legacy modesetting (drmModeSetCrtc + drmModePageFlip)", metadata: ["device": "\(card.path)"]) }
        self.buffers = buffers
        vt = VTSession()
        udev = UdevMonitor()
        if udev == nil { logger.info("no udev monitor: polling connector status for hot-plug every 2 s", metadata: ["device": "\(card.path)"]) }
        started = true
        _ = try rescan(probe: true)
        if lit.isEmpty {
            let why = problems.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            logger.info("no layout output could be lit: \(why)", metadata: ["device": "\(card.path)"])
        }
    }

    public func handleEvents() throws -> Bool {
        guard started, let card else { return false }
        switch vt?.pending() {
        case .release?:
            for o in lit { o.lose() }
            card.dropMaster()
            active = false
            vt?.allowRelease()
            logger.info("VT switched away: DRM master dropped", metadata: ["device": "\(card.path)"])
            return false
        case .acquire?:
            vt?.acknowledgeAcquire()
            try card.setMaster()
            active = true
            logger.info("VT back: DRM master taken, modes set again on the next frame", metadata: ["device": "\(card.path)"])
            return try rescan(probe: true)
        case nil: break
        }
        guard active else { return false }
        dispatch(try card.readFlips(timeoutMS: 0))
        if let udev {
            if udev.drainHotplug() { return try rescan(probe: true) }
        } else if ContinuousClock.now - lastPoll > .seconds(2) {
            lastPoll = .now
            return try rescan(probe: false)
        }
        return false
    }

    public func stop() {
        // Outputs first (EGL surfaces, framebuffers, GBM surfaces), then master and the VT. The GBM
        // device and the card stay open until the backend goes: a GLES renderer made on them may
        // still hold its EGL display (release the renderer before the backend).
        for o in lit { o.close(turnOff: false) }
        lit.removeAll()
        if started { card?.dropMaster() }
        vt = nil; udev = nil; properties = nil; buffers = nil
        started = false
    }

    // MARK: - Inside

    private func openCard() throws -> DRMCard {
        if let card { return card }
        let path: String
        if let requestedDevice { path = requestedDevice } else {
            let cards = DRMDevices.cards()
            guard !cards.isEmpty else { throw OutputError.noDevice("no DRM device: /dev/dri has no card* node (no GPU or display driver here); use the headless backend") }
            path = cards.first { p in (try? DRMCard(path: p).connectors().contains { $0.connected }) == true } ?? cards[0]
        }
        let c = try DRMCard(path: path)
        card = c
        return c
    }

    /// Enumerates again and turns outputs off and on to match the plan; true if `outputs` changed.
    private func rescan(probe: Bool) throws -> Bool {
        guard let card, let buffers else { return false }
        let resources = try card.resources(probe: probe)
        properties = PropertyTable(types: PropertyTable.types(for: resources))
        let current = lit.map(\.placement)
        let plan = DRMOutputPlan.make(specs, resources: resources, current: current, format: format)
        let (disable, enable) = plan.changes(from: current)
        problems = plan.problems
        guard !disable.isEmpty || !enable.isEmpty else { return false }
        for p in disable {
            guard let o = lit.first(where: { $0.placement == p }) else { continue }
            o.close(turnOff: true)
            lit.removeAll { $0 === o }
            logger.info("off\(plan.problems[p.outputID].map { " (\($0))" } ?? "")", metadata: Self.metadata(p, card))
        }
        for p in enable {
            guard let spec = specs.first(where: { $0.id == p.outputID }) else { continue }
            do {
                lit.append(try DRMOutput(spec: spec, placement: p, backend: self, card: card, buffers: buffers))
                logger.info("lit at \(p.mode), CRTC \(p.crtcID), plane \(p.planeID)", metadata: Self.metadata(p, card))
            } catch {
                problems[p.outputID] = "\(error)"
                logger.info("cannot light: \(error)", metadata: Self.metadata(p, card))
            }
        }
        let order = Dictionary(uniqueKeysWithValues: specs.enumerated().map { ($1.id, $0) })
        lit.sort { order[$0.id, default: 0] < order[$1.id, default: 0] }
        return true
    }

    /// What an output's log lines carry: the layout output, its connector and the card.
    static func metadata(_ p: DRMPlacement, _ card: DRMCard) -> Logger.Metadata {
        ["output": "\(p.outputID)", "connector": "\(p.connectorName)", "device": "\(card.path)"]
    }

    /// Hands page-flip events to the outputs on their CRTCs.
    func dispatch(_ crtcs: [UInt32]) {
        for crtc in crtcs { lit.first { $0.placement.crtcID == crtc }?.flipCompleted() }
    }

    // For DRMOutput.
    var gbmDeviceForOutputs: GBMDevice? { gbm }
    var propertyTable: PropertyTable? { properties }
}

/// One lit display: a connector on a CRTC at the layout's mode, showing one layout output.
public final class DRMOutput: Output {
    public let id: String
    public let panelSize: Size
    public let rotation: Rotation
    public let placement: DRMPlacement
    public var connectorName: String { placement.connectorName }
    public private(set) var framesPresented = 0
    /// Page flips whose event came back.
    public var flipsCompleted: Int { flip.flips }

    private weak var backend: DRMBackend?
    private let card: DRMCard
    private let mode: drmModeModeInfo
    private var modeBlob: UInt32 = 0
    private var flip = PageFlipState<UInt>()
    // CPU buffers: two mapped dumb buffers, by index.
    private var dumb: [DumbBuffer] = []
    // GPU surfaces: the renderer's EGL window surface on a GBM surface; framebuffer ids per buffer object.
    private var surfaceTarget: (any SwapchainTarget)?
    private var surface: GBMSurface?
    private var framebuffers = FramebufferCache<UInt>()
    private var closed = false
    /// The dumb buffer `nextBuffer` handed out (or, with a GBM surface, 0), which `commit` shows.
    private var handedOut: UInt?
    /// When the last page-flip event came back, and the mode's refresh interval: the next vertical
    /// blanks follow from them (`presentDue`).
    private var lastFlipAt: ContinuousClock.Instant?
    private let interval: Duration?

    init(spec: DRMOutputSpec, placement: DRMPlacement, backend: DRMBackend, card: DRMCard, buffers: OutputBuffers) throws {
        id = spec.id; panelSize = spec.panelSize; rotation = spec.rotation
        self.placement = placement; self.backend = backend; self.card = card
        mode = try card.modeInfo(placement)
        interval = mode.vrefresh > 0 ? .seconds(1.0 / Double(mode.vrefresh)) : nil
        let size = Size(width: placement.mode.width, height: placement.mode.height)
        switch buffers {
        case .gpu(let maker):
            guard let device = backend.gbmDeviceForOutputs else { throw OutputError.config("no GBM device (\(card.path))") }
            let surface = try GBMSurface(device: device, size: size, format: tessera_gbm_format_xrgb8888(), path: card.path)
            let target = try maker.makeSurfaceTarget(NativeSurface(platform: .gbm, display: device.address, window: surface.address,
                                                                   size: size, format: tessera_gbm_format_xrgb8888()))
            self.surface = surface; surfaceTarget = target
        case .cpu:
            let format = tessera_drm_format_xrgb8888()
            dumb = [try DumbBuffer(card: card, size: size, format: format), try DumbBuffer(card: card, size: size, format: format)]
        }
        if backend.usesAtomic { modeBlob = try card.createModeBlob(mode) }
    }

    deinit { close(turnOff: false) }

    public func waitForFrame() throws {
        guard let backend, !closed else { throw OutputError.config("output \(id) is closed") }
        guard backend.active else {
            // Switched away: nothing to show on; do not spin the render loop.
            Thread.sleep(forTimeInterval: 0.1)
            return
        }
        while !flip.canQueue {
            let events = try card.readFlips(timeoutMS: 1000)
            guard !events.isEmpty else {
                throw OutputError.drm(operation: "waiting 1 s for the page-flip event of CRTC \(placement.crtcID) (\(placement.connectorName))",
                                      device: card.path, errno: ETIMEDOUT)
            }
            backend.dispatch(events)
        }
    }

    /// Ahead of the vertical blank after the one the flip in flight waits for (or after the last
    /// flip when none is in flight) by `presentLead`: time for the last draw, which adds only what
    /// arrived since the render loop last brought the next buffer up to date, and the commit.
    public var presentDue: ContinuousClock.Instant? {
        guard let lastFlipAt, let interval, backend?.active == true else { return nil }
        return lastFlipAt + interval * (flip.canQueue ? 1 : 2) - Self.presentLead
    }
    static let presentLead: Duration = .milliseconds(4)

    /// The dumb buffer neither on screen nor queued, or the GBM surface's target, once the flip in
    /// flight has completed (its event is read without waiting). Nil until then, and while the VT
    /// is switched away.
    public func nextBuffer() throws -> (any RenderTarget)? {
        guard let backend, !closed else { throw OutputError.config("output \(id) is closed") }
        guard backend.active else { return nil }
        if !flip.canQueue { backend.dispatch(try card.readFlips(timeoutMS: 0)) }
        guard flip.canQueue else { return nil }
        if let surfaceTarget {
            handedOut = 0
            return surfaceTarget
        }
        guard let back = flip.nextBack(of: dumb.indices.map { UInt($0) }) else { return nil }
        handedOut = back
        return dumb[Int(back)]
    }

    /// Shows the buffer `nextBuffer` handed out: with a GBM surface, swaps the EGL surface and
    /// locks its front buffer; then a tested modeset the first time, a page flip after.
    public func commit() throws {
        guard let backend, !closed else { throw OutputError.config("output \(id) is closed") }
        guard let back = handedOut else { throw OutputError.config("output \(id): commit without a buffer from nextBuffer") }
        handedOut = nil
        // Switched away since the buffer was handed out: nothing may be shown now.
        guard backend.active else { return }
        guard flip.canQueue else { throw OutputError.config("output \(id): commit before waitForFrame (a flip is still in flight)") }
        if let surface, let target = surfaceTarget {
            try target.swapBuffers()
            let bo = try surface.lockFront(path: card.path)
            do {
                let card = self.card, size = panelSize
                let call = FramebufferCall.choose(deviceTakesModifiers: card.takesModifiers, modifier: GBMSurface.describe(bo).modifier,
                                                  invalid: tessera_drm_format_mod_invalid())
                let fb = try framebuffers.id(for: bo) { () throws(OutputError) -> UInt32 in
                    let d = GBMSurface.describe(bo)
                    return try card.addFramebuffer(width: size.width, height: size.height, handle: d.handle, pitch: d.stride,
                                                   offset: d.offset, format: tessera_drm_format_xrgb8888(), call: call)
                }
                try show(framebuffer: fb, buffer: bo, backend: backend)
            } catch {
                surface.release(bo)
                throw error
            }
        } else {
            try show(framebuffer: dumb[Int(back)].framebuffer, buffer: back, backend: backend)
        }
        framesPresented += 1
    }

    /// Queues `framebuffer` (buffer `buffer`): a tested modeset the first time, a flip after.
    private func show(framebuffer fb: UInt32, buffer: UInt, backend: DRMBackend) throws {
        if backend.usesAtomic {
            guard let properties = backend.propertyTable else { throw OutputError.config("no DRM property table (\(card.path))") }
            if flip.needsModeset {
                let request = AtomicRequest.modeset(placement, modeBlob: modeBlob, framebuffer: fb)
                try card.commit(request, properties: properties, flags: [.testOnly, .allowModeset], userData: placement.crtcID)
                try card.commit(request, properties: properties, flags: [.allowModeset, .pageFlipEvent], userData: placement.crtcID)
            } else {
                try card.commit(.flip(placement, framebuffer: fb), properties: properties, flags: [.nonBlock, .pageFlipEvent],
                                userData: placement.crtcID)
            }
            _ = flip.queued(buffer)
        } else if flip.needsModeset {
            try card.setCRTC(placement, mode: mode, framebuffer: fb)
            if let old = flip.shown(buffer) { release(old) }
        } else {
            try card.pageFlip(placement, framebuffer: fb, userData: placement.crtcID)
            _ = flip.queued(buffer)
        }
    }

    func flipCompleted() {
        lastFlipAt = .now
        if let old = flip.flipped() { release(old) }
    }

    /// The display was taken away (VT switch): forget what is on screen; set the mode again later.
    func lose() {
        lastFlipAt = nil; handedOut = nil
        for b in flip.reset() { release(b) }
    }

    private func release(_ buffer: UInt) { surface?.release(buffer) }

    /// Frees buffers in order (EGL surface, framebuffers, GBM surface); `turnOff` first disables the
    /// CRTC (a display unplugged or moved), which also keeps the kernel from showing a freed buffer.
    func close(turnOff: Bool) {
        if closed { return }
        closed = true
        if turnOff, let backend, backend.active {
            // A disable commit while this CRTC's flip is in flight fails with EBUSY: let it land.
            if !flip.canQueue, let events = try? card.readFlips(timeoutMS: 500) { backend.dispatch(events) }
            if backend.usesAtomic, let properties = backend.propertyTable {
                try? card.commit(.disable(placement), properties: properties, flags: [.allowModeset], userData: 0)
            } else {
                try? card.setCRTC(placement, mode: nil, framebuffer: 0)
            }
        }
        for b in flip.reset() { release(b) }
        surfaceTarget = nil
        for fb in framebuffers.removeAll() { card.removeFramebuffer(fb) }
        surface = nil
        dumb.removeAll()
        card.destroyBlob(modeBlob); modeBlob = 0
    }
}
