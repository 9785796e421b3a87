import Foundation
import Logging
import Testing
import TesseraCore
import TesseraOutput
import TesseraRender

/// The DRM backend's decisions, without /dev/dri: mode choice, connector/CRTC/plane assignment
/// and what hot-plug changes, atomic property sets, and the page-flip cycle.
@Suite("DRM plan")
struct DRMPlanTests {
    static let xrgb = DRMDevices.xrgb8888
    static let crtcs = [DRMCRTC(id: 40, index: 0), DRMCRTC(id: 41, index: 1), DRMCRTC(id: 42, index: 2)]
    static let planes = [
        DRMPlane(id: 30, kind: .primary, possibleCRTCs: 0b001, formats: [xrgb]),
        DRMPlane(id: 31, kind: .primary, possibleCRTCs: 0b010, formats: [xrgb]),
        DRMPlane(id: 32, kind: .primary, possibleCRTCs: 0b100, formats: [xrgb]),
        DRMPlane(id: 33, kind: .cursor, possibleCRTCs: 0b111, formats: [xrgb]),
        DRMPlane(id: 34, kind: .overlay, possibleCRTCs: 0b111, formats: [xrgb]),
    ]
    static let fullHD = [DRMMode(width: 1920, height: 1080, refresh: 60, preferred: true), DRMMode(width: 1280, height: 720, refresh: 60, preferred: false)]

    static func connector(_ id: UInt32, _ name: String, _ connected: Bool, crtcs: UInt32 = 0b111, modes: [DRMMode] = fullHD) -> DRMConnector {
        DRMConnector(id: id, name: name, connected: connected, modes: connected ? modes : [], possibleCRTCs: crtcs)
    }

    static func resources(_ connectors: [DRMConnector]) -> DRMResources {
        DRMResources(connectors: connectors, crtcs: crtcs, planes: planes)
    }

    // MARK: Modes

    struct ModeCase: Sendable, CustomStringConvertible {
        var modes: [DRMMode]
        var width: Int, height: Int, refresh: Double?
        var expected: Int?
        var description: String { "\(width)x\(height)@\(refresh.map { "\($0)" } ?? "any") → \(expected.map(String.init) ?? "none")" }
    }

    static let modeCases: [ModeCase] = {
        // A forced virtio head lists 5120x2160 first and prefers nothing (notes/kms-vm.md).
        let forced = [DRMMode(width: 5120, height: 2160, refresh: 60, preferred: false),
                      DRMMode(width: 3840, height: 2160, refresh: 60, preferred: false),
                      DRMMode(width: 1920, height: 1080, refresh: 60, preferred: false)]
        let tv = [DRMMode(width: 3840, height: 2160, refresh: 30, preferred: false),
                  DRMMode(width: 3840, height: 2160, refresh: 60, preferred: true),
                  DRMMode(width: 3840, height: 2160, refresh: 59.94, preferred: false),
                  DRMMode(width: 1920, height: 1080, refresh: 50, preferred: false)]
        return [
            ModeCase(modes: forced, width: 1920, height: 1080, refresh: nil, expected: 2),
            ModeCase(modes: forced, width: 3840, height: 2160, refresh: 60, expected: 1),
            ModeCase(modes: tv, width: 3840, height: 2160, refresh: nil, expected: 1),        // preferred at that size
            ModeCase(modes: tv, width: 3840, height: 2160, refresh: 59.94, expected: 2),      // nearest refresh
            ModeCase(modes: tv, width: 3840, height: 2160, refresh: 30, expected: 0),
            ModeCase(modes: tv, width: 1920, height: 1080, refresh: 60, expected: nil),       // only at 50 Hz
            ModeCase(modes: tv, width: 1280, height: 720, refresh: nil, expected: nil),
        ]
    }()

    @Test("the layout's mode exactly, never the first listed", arguments: modeCases)
    func modeChoice(_ c: ModeCase) {
        let plan = DRMOutputPlan.make([DRMOutputSpec(id: "wall", width: c.width, height: c.height, refresh: c.refresh)],
                                      resources: Self.resources([Self.connector(1, "Virtual-1", true, modes: c.modes)]), format: Self.xrgb)
        if let expected = c.expected {
            #expect(plan.placements.first?.modeIndex == expected)
            #expect(plan.placements.first?.mode == c.modes[expected])
        } else {
            #expect(plan.placements.isEmpty)
            #expect(plan.problems["wall"] != nil)
        }
    }

    // MARK: Assignment

    @Test("a CRTC the connector's encoders allow, and a primary plane on it")
    func crtcAndPlane() throws {
        let plan = DRMOutputPlan.make([
            DRMOutputSpec(id: "a", connector: "DP-1", width: 1920, height: 1080),
            DRMOutputSpec(id: "b", connector: "HDMI-A-1", width: 1280, height: 720),
        ], resources: Self.resources([Self.connector(1, "DP-1", true, crtcs: 0b110), Self.connector(2, "HDMI-A-1", true, crtcs: 0b010)]),
           format: Self.xrgb)
        // DP-1 takes CRTC 41 first (index 1, its lowest allowed) and HDMI-A-1, allowed only 41, has none left.
        let a = try #require(plan.placements.first { $0.outputID == "a" })
        #expect(a.crtcID == 41 && a.planeID == 31 && a.connectorID == 1)
        #expect(plan.problems["b"] == "no free CRTC with a primary plane for HDMI-A-1")
    }

    @Test("a primary plane that cannot scan out the format is not chosen")
    func planeFormat() {
        var res = Self.resources([Self.connector(1, "DP-1", true, crtcs: 0b001)])
        res.planes[0].formats = [DRMDevices.xrgb8888 + 1]
        let plan = DRMOutputPlan.make([DRMOutputSpec(id: "a", width: 1920, height: 1080)], resources: res, format: Self.xrgb)
        #expect(plan.placements.isEmpty)
    }

    @Test("hot-plug: gone displays go dark, returning ones come back where they were, others do not move")
    func hotplug() throws {
        let specs = [DRMOutputSpec(id: "left", connector: "any", width: 1920, height: 1080),
                     DRMOutputSpec(id: "right", connector: "any", width: 1920, height: 1080),
                     DRMOutputSpec(id: "board", connector: "HDMI-A-1", width: 1280, height: 720)]
        // DP-1 is dark at start: left → DP-2, right → DP-3.
        var connectors = [Self.connector(1, "DP-1", false), Self.connector(2, "DP-2", true), Self.connector(3, "DP-3", true),
                          Self.connector(4, "HDMI-A-1", true)]
        let start = DRMOutputPlan.make(specs, resources: Self.resources(connectors), format: Self.xrgb)
        #expect(start.placements.map(\.connectorName) == ["DP-2", "DP-3", "HDMI-A-1"])
        #expect(start.placements.map(\.crtcID) == [40, 41, 42])
        let lit = start.placements

        // DP-1 is plugged in: nothing moves (a naive "next connected" would shift left and right).
        connectors[0] = Self.connector(1, "DP-1", true)
        let plugged = DRMOutputPlan.make(specs, resources: Self.resources(connectors), current: lit, format: Self.xrgb)
        #expect(plugged.changes(from: lit).disable.isEmpty && plugged.changes(from: lit).enable.isEmpty)

        // DP-3 is pulled: right moves to the free DP-1; left stays.
        connectors[2] = Self.connector(3, "DP-3", false)
        let pulled = DRMOutputPlan.make(specs, resources: Self.resources(connectors), current: lit, format: Self.xrgb)
        let (off, on) = pulled.changes(from: lit)
        #expect(off.map(\.outputID) == ["right"])
        #expect(on.first { $0.outputID == "right" }?.connectorName == "DP-1")
        #expect(pulled.placements.first { $0.outputID == "left" } == lit.first { $0.outputID == "left" })
    }

    @Test("a named connector unplugged goes dark; plugged back, it is lit with its mode again")
    func namedReturn() {
        let specs = [DRMOutputSpec(id: "wall", connector: "HDMI-A-1", width: 1920, height: 1080)]
        let on = Self.resources([Self.connector(7, "HDMI-A-1", true)])
        let off = Self.resources([Self.connector(7, "HDMI-A-1", false)])
        let first = DRMOutputPlan.make(specs, resources: on, format: Self.xrgb).placements
        let gone = DRMOutputPlan.make(specs, resources: off, current: first, format: Self.xrgb)
        #expect(gone.placements.isEmpty && gone.problems["wall"] == "HDMI-A-1 has no display connected")
        #expect(gone.changes(from: first).disable == first)
        let back = DRMOutputPlan.make(specs, resources: on, current: [], format: Self.xrgb)
        #expect(back.changes(from: []).enable == first)
    }

    // MARK: Atomic

    static let placement = DRMPlacement(outputID: "wall", connectorID: 1, connectorName: "Virtual-1", crtcID: 40, planeID: 30,
                                        modeIndex: 0, mode: DRMMode(width: 1920, height: 1080, refresh: 60, preferred: true))

    @Test("a modeset sets connector, CRTC and the whole-mode plane; source rectangle in 16.16")
    func atomicModeset() throws {
        let r = AtomicRequest.modeset(Self.placement, modeBlob: 99, framebuffer: 77)
        let byName = Dictionary(uniqueKeysWithValues: r.items.map { ("\($0.object).\($0.property)", $0.value) })
        #expect(byName["1.CRTC_ID"] == 40)
        #expect(byName["40.MODE_ID"] == 99 && byName["40.ACTIVE"] == 1)
        #expect(byName["30.FB_ID"] == 77 && byName["30.CRTC_ID"] == 40)
        #expect(byName["30.SRC_W"] == 1920 << 16 && byName["30.SRC_H"] == 1080 << 16)
        #expect(byName["30.CRTC_W"] == 1920 && byName["30.CRTC_H"] == 1080)
        #expect(r.objects == [1, 40, 30])
        #expect(AtomicRequest.flip(Self.placement, framebuffer: 78).items.map(\.property) == ["FB_ID"])
        let off = AtomicRequest.disable(Self.placement).items
        #expect(off.allSatisfy { $0.value == 0 } && Set(off.map(\.object)) == [1, 40, 30])
    }

    @Test("property names resolve to the kernel's ids; a missing one names object and property")
    func atomicResolve() throws {
        let r = AtomicRequest.flip(Self.placement, framebuffer: 5)
        let ids = try r.resolve([30: ["FB_ID": 17, "CRTC_ID": 18]])
        #expect(ids.count == 1 && ids[0].object == 30 && ids[0].property == 17 && ids[0].value == 5)
        #expect(throws: OutputError.self) { try AtomicRequest.modeset(Self.placement, modeBlob: 1, framebuffer: 2).resolve([30: ["FB_ID": 17]]) }
        do { _ = try AtomicRequest.disable(Self.placement).resolve([:]) } catch { #expect("\(error)".contains("DRM object 30 has no property FB_ID")) }
    }

    // MARK: Page flips

    @Test("double buffering: one flip in flight, the shown buffer never drawn into, the old one freed on the event")
    func flipCycle() {
        var s = PageFlipState<UInt>()
        let buffers: [UInt] = [0, 1]
        #expect(s.needsModeset && s.canQueue)
        #expect(s.nextBack(of: buffers) == 0)
        let r1 = s.queued(0)
        #expect(r1)                       // the modeset
        #expect(!s.needsModeset && !s.canQueue)
        #expect(s.nextBack(of: buffers) == 1)
        let r2 = s.queued(1)
        #expect(!r2)                      // a second frame in flight is refused
        let r3 = s.flipped()
        #expect(r3 == nil)                // nothing was on screen before
        #expect(s.front == 0 && s.canQueue)
        #expect(s.nextBack(of: buffers) == 1)
        let r4 = s.queued(0)
        #expect(!r4)                      // never the buffer on screen
        let r5 = s.queued(1)
        #expect(r5)
        #expect(s.nextBack(of: buffers) == nil)    // both busy until the event
        let r6 = s.flipped()
        #expect(r6 == 0)                  // buffer 0 left the screen: free again
        #expect(s.nextBack(of: buffers) == 0 && s.flips == 2)
        let r7 = s.flipped()
        #expect(r7 == nil)                // a stray event changes nothing
    }

    @Test("legacy modeset shows at once; a lost display forgets its buffers and sets the mode again")
    func flipLegacyAndReset() {
        var s = PageFlipState<UInt>()
        let r8 = s.shown(7)
        #expect(r8 == nil)
        #expect(s.front == 7 && s.canQueue && !s.needsModeset)
        let r9 = s.queued(8)
        #expect(r9)
        let r10 = s.reset()
        #expect(Set(r10) == [7, 8])
        #expect(s.needsModeset && s.front == nil && s.canQueue)
    }

    @Test("framebuffer ids are made once per buffer and all given back")
    func framebufferCache() throws {
        var cache = FramebufferCache<UInt>()
        var made = 0
        for bo: UInt in [0xA0, 0xB0, 0xA0, 0xC0, 0xB0, 0xA0] {
            _ = cache.id(for: bo) { made += 1; return UInt32(100 + made) }
        }
        #expect(made == 3 && cache.added == 3)
        #expect(Set(cache.removeAll()) == [101, 102, 103])
        #expect(cache.ids.isEmpty)
    }

    @Test("AddFB2WithModifiers only with a device that takes them and an explicit modifier")
    func framebufferCall() {
        let invalid: UInt64 = 0x00ff_ffff_ffff_ffff
        #expect(FramebufferCall.choose(deviceTakesModifiers: true, modifier: 0, invalid: invalid) == .addFB2WithModifiers(0))
        #expect(FramebufferCall.choose(deviceTakesModifiers: true, modifier: invalid, invalid: invalid) == .addFB2)
        #expect(FramebufferCall.choose(deviceTakesModifiers: false, modifier: 0, invalid: invalid) == .addFB2)
        #expect(FramebufferCall.choose(deviceTakesModifiers: true, modifier: nil, invalid: invalid) == .addFB2)
    }
}

/// The backend on a real KMS device: skipped here (no /dev/dri); runs in the virtio-gpu VM.
@Suite("DRM backend on hardware", .enabled(if: !DRMDevices.cards().isEmpty,
                                           "needs a KMS device (/dev/dri/card*): none on this machine; runs in the QEMU virtio-gpu VM (shared/notes/kms-vm.md)"))
struct DRMHardwareTests {
    @Test("CPU renderer on dumb buffers: lights the first connected display, logs it with its output and connector, and flips three frames")
    func dumbBuffers() throws {
        let log = CapturedLog()
        let card = try DRMCard(path: DRMDevices.cards()[0])
        let connector = try #require(try card.connectors().first { $0.connected }, "no connected connector")
        let mode = try #require(connector.preferredMode ?? connector.modes.first)
        let backend = DRMBackend(outputs: [DRMOutputSpec(id: "wall", connector: connector.name, width: mode.width, height: mode.height, refresh: mode.refresh)],
                                 logger: log.logger)
        let renderer = try CPURenderer(fonts: Fixtures.fonts)
        try backend.start(buffers: .cpu)
        defer { backend.stop() }
        let output = try #require(backend.output("wall"), "\(backend.problems)")
        let lit = log.lines.filter { $0.message.hasPrefix("lit at") }
        #expect(lit.count == 1, "\(log.lines.map(\.message))")
        #expect(lit.first?.metadata["output"] == "wall")
        #expect(lit.first?.metadata["connector"] == "\(connector.name)")
        #expect(lit.first?.metadata["device"] == "\(card.path)")
        let scene = OutputScene(id: "wall", size: output.panelSize, rotation: .none, background: Fixtures.hand, tiles: [])
        for _ in 0..<3 {
            try output.waitForFrame()
            try output.render(scene, with: renderer, sources: FrameSourceTable())
        }
        try output.waitForFrame()
        #expect(output.framesPresented == 3)
        #expect(output.flipsCompleted >= 2)
    }
}
