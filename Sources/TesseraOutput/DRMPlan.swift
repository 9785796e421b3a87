import TesseraCore

// The DRM backend's decisions as values: which connector, CRTC, plane and mode each layout output
// gets (and what changes on hot-plug), which atomic properties a commit sets, and where each buffer
// is in the page-flip cycle. The ioctl layer (DRMCard, DRMBackend) only carries them out, so all of
// this is tested without /dev/dri.

/// A CRTC: the scan-out engine a connector is driven by. `index` is its place in the kernel's list,
/// the bit that `possibleCRTCs` masks use.
public struct DRMCRTC: Sendable, Hashable {
    public var id: UInt32
    public var index: Int
    public init(id: UInt32, index: Int) { self.id = id; self.index = index }
}

/// A plane, as far as choosing one for an output goes.
public struct DRMPlane: Sendable, Hashable {
    public enum Kind: String, Sendable { case overlay, primary, cursor }
    public var id: UInt32
    public var kind: Kind
    /// Bit i set: the plane can be shown on the CRTC with index i.
    public var possibleCRTCs: UInt32
    /// DRM fourccs the plane scans out.
    public var formats: [UInt32]
    public init(id: UInt32, kind: Kind, possibleCRTCs: UInt32, formats: [UInt32]) {
        self.id = id; self.kind = kind; self.possibleCRTCs = possibleCRTCs; self.formats = formats
    }
}

/// One enumeration of a card: what the kernel lists now.
public struct DRMResources: Sendable, Hashable {
    public var connectors: [DRMConnector]
    public var crtcs: [DRMCRTC]
    public var planes: [DRMPlane]
    public init(connectors: [DRMConnector], crtcs: [DRMCRTC], planes: [DRMPlane]) {
        self.connectors = connectors; self.crtcs = crtcs; self.planes = planes
    }
}

/// What the layout asks of one display: the output it shows and the exact mode.
public struct DRMOutputSpec: Sendable, Hashable {
    public var id: String
    /// A connector name ("HDMI-A-1") or "any" (the next connected one, in the kernel's order).
    public var connector: String
    public var width: Int, height: Int
    /// The refresh the layout asks for (within 0.5 Hz), or nil for the preferred one at that size.
    public var refresh: Double?
    /// The panel's clockwise turn (the renderer draws it; the buffer is the mode's size).
    public var rotation: Rotation
    public init(id: String, connector: String = "any", width: Int, height: Int, refresh: Double? = nil, rotation: Rotation = .none) {
        self.id = id; self.connector = connector; self.width = width; self.height = height
        self.refresh = refresh; self.rotation = rotation
    }
    public var panelSize: Size { Size(width: width, height: height) }
}

/// Where one lit output is: connector, CRTC, primary plane and the mode (by index in the
/// connector's mode list, as the kernel gave it).
public struct DRMPlacement: Sendable, Hashable {
    public var outputID: String
    public var connectorID: UInt32
    public var connectorName: String
    public var crtcID: UInt32
    public var planeID: UInt32
    public var modeIndex: Int
    public var mode: DRMMode
    public init(outputID: String, connectorID: UInt32, connectorName: String, crtcID: UInt32, planeID: UInt32, modeIndex: Int, mode: DRMMode) {
        self.outputID = outputID; self.connectorID = connectorID; self.connectorName = connectorName
        self.crtcID = crtcID; self.planeID = planeID; self.modeIndex = modeIndex; self.mode = mode
    }
}

/// Which outputs are lit where, given the layout and an enumeration; and, against what is lit now,
/// what to turn off and on. Used at start and again on every hot-plug.
public struct DRMOutputPlan: Sendable, Hashable {
    /// Outputs that can be lit, in layout order.
    public var placements: [DRMPlacement]
    /// Why an output stays dark, by output id ("DP-1 has no display connected").
    public var problems: [String: String]

    /// Connectors by name (else "any" in order, via ConnectorMatch) and the layout's exact mode;
    /// then a CRTC the connector can use and a primary plane for it that scans out `format`.
    /// Outputs in `current` keep their connector and CRTC while that connector stays connected
    /// with the mode, so a display coming back does not reshuffle the ones that stayed.
    public static func make(_ specs: [DRMOutputSpec], resources: DRMResources, current: [DRMPlacement] = [],
                            format: UInt32) -> DRMOutputPlan {
        let connectors = resources.connectors
        let kept = Dictionary(current.map { ($0.outputID, $0) }, uniquingKeysWith: { a, _ in a })
        let wanted = specs.map { s -> ConnectorMatch.Wanted in
            var name = s.connector
            if name == "any", let k = kept[s.id], connectors.contains(where: { $0.name == k.connectorName && $0.connected }) {
                name = k.connectorName
            }
            return .init(outputID: s.id, connector: name, width: s.width, height: s.height, refresh: s.refresh)
        }
        let assignments = ConnectorMatch.assign(wanted, to: connectors)
        var problems: [String: String] = [:]
        var usedCRTCs = Set<UInt32>(), usedPlanes = Set<UInt32>()
        var chosen: [(String, DRMConnector, Int, DRMMode)] = []
        for a in assignments {
            guard let name = a.connector, let mode = a.mode, let c = connectors.first(where: { $0.name == name }),
                  let index = c.modes.firstIndex(of: mode) else {
                problems[a.outputID] = a.problem ?? "not assigned"
                continue
            }
            chosen.append((a.outputID, c, index, mode))
        }
        // Kept outputs first keep their CRTC and plane; the rest take what is left.
        var byOutput: [String: (crtc: DRMCRTC, plane: DRMPlane)] = [:]
        for (id, c, _, _) in chosen {
            guard let k = kept[id], k.connectorID == c.id,
                  let crtc = resources.crtcs.first(where: { $0.id == k.crtcID }),
                  let plane = resources.planes.first(where: { $0.id == k.planeID }) else { continue }
            byOutput[id] = (crtc, plane); usedCRTCs.insert(crtc.id); usedPlanes.insert(plane.id)
        }
        for (id, c, _, _) in chosen where byOutput[id] == nil {
            let pair = resources.crtcs.lazy.filter { c.possibleCRTCs & (1 << UInt32($0.index)) != 0 && !usedCRTCs.contains($0.id) }
                .compactMap { crtc -> (DRMCRTC, DRMPlane)? in
                    resources.planes.first { p in
                        p.kind == .primary && p.possibleCRTCs & (1 << UInt32(crtc.index)) != 0
                            && !usedPlanes.contains(p.id) && (p.formats.isEmpty || p.formats.contains(format))
                    }.map { (crtc, $0) }
                }.first
            guard let (crtc, plane) = pair else {
                problems[id] = "no free CRTC with a primary plane for \(c.name)"
                continue
            }
            byOutput[id] = (crtc, plane); usedCRTCs.insert(crtc.id); usedPlanes.insert(plane.id)
        }
        let placements = chosen.compactMap { (id, c, index, mode) -> DRMPlacement? in
            guard let (crtc, plane) = byOutput[id] else { return nil }
            return DRMPlacement(outputID: id, connectorID: c.id, connectorName: c.name, crtcID: crtc.id, planeID: plane.id,
                                modeIndex: index, mode: mode)
        }
        return DRMOutputPlan(placements: placements, problems: problems)
    }

    /// Against the placements lit now: those to turn off (gone, or moved to another connector,
    /// CRTC or mode) and those to bring up (new, or moved). Unchanged outputs are in neither.
    public func changes(from current: [DRMPlacement]) -> (disable: [DRMPlacement], enable: [DRMPlacement]) {
        let next = Dictionary(placements.map { ($0.outputID, $0) }, uniquingKeysWith: { a, _ in a })
        let now = Dictionary(current.map { ($0.outputID, $0) }, uniquingKeysWith: { a, _ in a })
        let disable = current.filter { next[$0.outputID] != $0 }
        let enable = placements.filter { now[$0.outputID] != $0 }
        return (disable, enable)
    }
}

/// The properties one atomic commit sets, by name; `resolve` turns names into the kernel's
/// property ids. Plane source coordinates are 16.16 fixed point, as the kernel wants them.
public struct AtomicRequest: Sendable, Hashable {
    public struct Item: Sendable, Hashable {
        public var object: UInt32
        public var property: String
        public var value: UInt64
    }
    public private(set) var items: [Item] = []
    public init() {}

    public mutating func set(_ object: UInt32, _ property: String, _ value: UInt64) {
        items.append(Item(object: object, property: property, value: value))
    }

    /// Lights `placement` showing framebuffer `fb` on a mode blob: connector → CRTC, CRTC active on
    /// the mode, the primary plane covering the whole mode.
    public static func modeset(_ placement: DRMPlacement, modeBlob: UInt32, framebuffer fb: UInt32) -> AtomicRequest {
        var r = AtomicRequest()
        let w = UInt64(placement.mode.width), h = UInt64(placement.mode.height)
        r.set(placement.connectorID, "CRTC_ID", UInt64(placement.crtcID))
        r.set(placement.crtcID, "MODE_ID", UInt64(modeBlob))
        r.set(placement.crtcID, "ACTIVE", 1)
        r.set(placement.planeID, "FB_ID", UInt64(fb))
        r.set(placement.planeID, "CRTC_ID", UInt64(placement.crtcID))
        r.set(placement.planeID, "SRC_X", 0); r.set(placement.planeID, "SRC_Y", 0)
        r.set(placement.planeID, "SRC_W", w << 16); r.set(placement.planeID, "SRC_H", h << 16)
        r.set(placement.planeID, "CRTC_X", 0); r.set(placement.planeID, "CRTC_Y", 0)
        r.set(placement.planeID, "CRTC_W", w); r.set(placement.planeID, "CRTC_H", h)
        return r
    }

    /// Shows `fb` on an output already lit: only the plane's framebuffer changes.
    public static func flip(_ placement: DRMPlacement, framebuffer fb: UInt32) -> AtomicRequest {
        var r = AtomicRequest()
        r.set(placement.planeID, "FB_ID", UInt64(fb))
        return r
    }

    /// Turns `placement` off: plane detached, CRTC inactive without a mode, connector unbound.
    public static func disable(_ placement: DRMPlacement) -> AtomicRequest {
        var r = AtomicRequest()
        r.set(placement.planeID, "FB_ID", 0)
        r.set(placement.planeID, "CRTC_ID", 0)
        r.set(placement.crtcID, "MODE_ID", 0)
        r.set(placement.crtcID, "ACTIVE", 0)
        r.set(placement.connectorID, "CRTC_ID", 0)
        return r
    }

    /// The items with property ids from `properties` (object id → name → property id), or an
    /// error naming the first object and property the kernel does not have.
    public func resolve(_ properties: [UInt32: [String: UInt32]]) throws(OutputError) -> [(object: UInt32, property: UInt32, value: UInt64)] {
        var out: [(object: UInt32, property: UInt32, value: UInt64)] = []
        for item in items {
            guard let id = properties[item.object]?[item.property] else {
                throw .config("DRM object \(item.object) has no property \(item.property) (driver without atomic support for it?)")
            }
            out.append((item.object, id, item.value))
        }
        return out
    }

    /// The object ids the request touches (whose properties must be looked up).
    public var objects: [UInt32] {
        var seen = Set<UInt32>()
        return items.map(\.object).filter { seen.insert($0).inserted }
    }
}

/// Where each buffer of one output is in the scan-out cycle (kmscube's swap → lock → flip → wait
/// for the event → release the previous): at most one flip in flight, the buffer on screen never
/// drawn into. `Buffer` is an index (dumb buffers) or a GBM buffer object's address.
public struct PageFlipState<Buffer: Hashable & Sendable>: Sendable, Hashable {
    /// The buffer the display scans out now.
    public private(set) var front: Buffer?
    /// The buffer a queued flip (or modeset) will show; its event has not come back yet.
    public private(set) var pending: Buffer?
    /// Whether the next commit must set the mode (first frame, after a VT switch back).
    public private(set) var needsModeset = true
    /// Flips completed, for stats.
    public private(set) var flips = 0

    public init() {}

    /// Whether a new frame may be queued (one frame in flight at most).
    public var canQueue: Bool { pending == nil }

    /// Whether `buffer` may be drawn into now (neither on screen nor about to be).
    public func isFree(_ buffer: Buffer) -> Bool { buffer != front && buffer != pending }

    /// The first of `buffers` that may be drawn into.
    public func nextBack(of buffers: [Buffer]) -> Buffer? { buffers.first(where: isFree) }

    /// A commit showing `buffer` was queued. False (nothing changes) if one is still in flight or
    /// `buffer` is on screen.
    public mutating func queued(_ buffer: Buffer) -> Bool {
        guard pending == nil, buffer != front else { return false }
        pending = buffer; needsModeset = false
        return true
    }

    /// A commit that took effect at once (legacy drmModeSetCrtc has no event): `buffer` is on
    /// screen; returns the buffer that left the screen, now free.
    public mutating func shown(_ buffer: Buffer) -> Buffer? {
        let old = front
        front = buffer; pending = nil; needsModeset = false
        return old == buffer ? nil : old
    }

    /// The page-flip event came: the pending buffer is on screen. Returns the buffer that left the
    /// screen (release it: GBM gets it back), or nil. An event without a pending flip is ignored.
    public mutating func flipped() -> Buffer? {
        guard let p = pending else { return nil }
        let old = front
        front = p; pending = nil; flips += 1
        return old
    }

    /// The display was lost (VT switched away, output turned off): nothing is on screen any more
    /// and the next commit sets the mode again. Returns the buffers to release.
    public mutating func reset() -> [Buffer] {
        let held = [front, pending].compactMap { $0 }
        front = nil; pending = nil; needsModeset = true
        return held
    }
}

/// Framebuffer ids per buffer (kmscube: one drmModeAddFB2 per buffer object, not per frame).
public struct FramebufferCache<Key: Hashable & Sendable>: Sendable {
    public private(set) var ids: [Key: UInt32] = [:]
    public private(set) var added = 0
    public init() {}

    /// The framebuffer id for `key`, made with `make` the first time.
    public mutating func id<E: Error>(for key: Key, make: () throws(E) -> UInt32) throws(E) -> UInt32 {
        if let id = ids[key] { return id }
        let id = try make()
        ids[key] = id; added += 1
        return id
    }

    /// Forgets every entry; returns the ids to drmModeRmFB.
    public mutating func removeAll() -> [UInt32] {
        defer { ids.removeAll() }
        return Array(ids.values)
    }
}

/// How a framebuffer is registered: with modifiers when the device takes them
/// (DRM_CAP_ADDFB2_MODIFIERS) and the buffer has an explicit one, else plain AddFB2.
public enum FramebufferCall: Sendable, Hashable {
    case addFB2WithModifiers(UInt64)
    case addFB2

    public static func choose(deviceTakesModifiers: Bool, modifier: UInt64?, invalid: UInt64 = .max >> 8) -> FramebufferCall {
        // DRM_FORMAT_MOD_INVALID is 0x00ffffffffffffff.
        if deviceTakesModifiers, let modifier, modifier != invalid { return .addFB2WithModifiers(modifier) }
        return .addFB2
    }
}
