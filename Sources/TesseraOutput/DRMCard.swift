import Foundation
internal import CDRM
import TesseraCore

/// One DRM display mode, as the kernel lists it for a connector.
public struct DRMMode: Sendable, Hashable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    /// Vertical refresh in Hz (from the pixel clock and totals, not the rounded `vrefresh`).
    public var refresh: Double
    public var preferred: Bool
    public init(width: Int, height: Int, refresh: Double, preferred: Bool) {
        self.width = width; self.height = height; self.refresh = refresh; self.preferred = preferred
    }
    public var description: String { "\(width)x\(height)@\(String(format: "%.2f", refresh))" + (preferred ? " (preferred)" : "") }
}

/// A connector: a socket a display can be plugged into.
public struct DRMConnector: Sendable, Hashable {
    public var id: UInt32
    /// The kernel's name, as layouts use it: "HDMI-A-1", "DP-2", "Virtual-1".
    public var name: String
    public var connected: Bool
    public var modes: [DRMMode]
    /// Bit i set: a CRTC with index i can drive this connector (the union over its encoders).
    public var possibleCRTCs: UInt32 = .max
    public init(id: UInt32, name: String, connected: Bool, modes: [DRMMode]) {
        self.id = id; self.name = name; self.connected = connected; self.modes = modes
    }
    public init(id: UInt32, name: String, connected: Bool, modes: [DRMMode], possibleCRTCs: UInt32) {
        self.init(id: id, name: name, connected: connected, modes: modes)
        self.possibleCRTCs = possibleCRTCs
    }
    /// The mode the display prefers (its EDID's first detailed timing), if it says.
    public var preferredMode: DRMMode? { modes.first { $0.preferred } }
}

/// An open DRM card node (primary node), closed in deinit. Enumeration needs no master.
public final class DRMCard {
    public let path: String
    let fd: Int32

    public init(path: String) throws(OutputError) {
        let fd: Int32
        do throws(SystemCallError) { fd = try SystemCall.retrying("open") { open(path, O_RDWR | O_CLOEXEC) } } catch {
            throw .drm(operation: error.call, device: path, errno: error.errno)
        }
        self.path = path; self.fd = fd
    }

    deinit { close(fd) }

    /// Every connector with its modes, in the kernel's order. `probe` false reads the kernel's
    /// last known state (drmModeGetConnectorCurrent) without asking the display again: cheap enough
    /// to poll for hot-plug where no udev is.
    public func connectors(probe: Bool = true) throws(OutputError) -> [DRMConnector] {
        guard let res = drmModeGetResources(fd) else { throw .drm(operation: "drmModeGetResources", device: path, errno: errno) }
        defer { drmModeFreeResources(res) }
        var out: [DRMConnector] = []
        for i in 0..<Int(res.pointee.count_connectors) {
            let got = probe ? drmModeGetConnector(fd, res.pointee.connectors[i]) : drmModeGetConnectorCurrent(fd, res.pointee.connectors[i])
            guard let c = got else { continue }
            defer { drmModeFreeConnector(c) }
            var possible: UInt32 = 0
            for e in 0..<Int(c.pointee.count_encoders) {
                guard let enc = drmModeGetEncoder(fd, c.pointee.encoders[e]) else { continue }
                possible |= enc.pointee.possible_crtcs
                drmModeFreeEncoder(enc)
            }
            let type = String(cString: drmModeGetConnectorTypeName(c.pointee.connector_type))
            let modes = (0..<Int(c.pointee.count_modes)).map { m -> DRMMode in
                let mode = c.pointee.modes[m]
                let total = Double(mode.htotal) * Double(mode.vtotal)
                let hz = total > 0 ? Double(mode.clock) * 1000 / total : Double(mode.vrefresh)
                return DRMMode(width: Int(mode.hdisplay), height: Int(mode.vdisplay), refresh: hz,
                               preferred: mode.type & UInt32(DRM_MODE_TYPE_PREFERRED) != 0)
            }
            out.append(DRMConnector(id: c.pointee.connector_id, name: "\(type)-\(c.pointee.connector_type_id)",
                                    connected: c.pointee.connection == DRM_MODE_CONNECTED, modes: modes,
                                    possibleCRTCs: possible))
        }
        return out
    }
}

/// Which connector drives which layout output: by name, else (for "any") the next connected one
/// in the kernel's order; and the mode exactly as the layout asks (never just the first listed).
public enum ConnectorMatch {
    public struct Wanted: Sendable, Hashable {
        public var outputID: String
        /// A connector name, or "any".
        public var connector: String
        public var width: Int, height: Int
        public var refresh: Double?
        public init(outputID: String, connector: String, width: Int, height: Int, refresh: Double?) {
            self.outputID = outputID; self.connector = connector; self.width = width; self.height = height; self.refresh = refresh
        }
    }

    public struct Assignment: Sendable, Hashable {
        public var outputID: String
        public var connector: String?
        /// The matching mode, nil when the display does not offer it.
        public var mode: DRMMode?
        public var problem: String?
    }

    public static func assign(_ wanted: [Wanted], to connectors: [DRMConnector]) -> [Assignment] {
        var taken = Set(wanted.compactMap { w in connectors.first { $0.name == w.connector }?.name })
        return wanted.map { w in
            var c = connectors.first { $0.name == w.connector }
            if c == nil, w.connector == "any", let next = connectors.first(where: { $0.connected && !taken.contains($0.name) }) {
                c = next; taken.insert(next.name)
            }
            guard let c else { return Assignment(outputID: w.outputID, connector: nil, mode: nil, problem: "no connector \(w.connector)") }
            guard c.connected else { return Assignment(outputID: w.outputID, connector: c.name, mode: nil, problem: "\(c.name) has no display connected") }
            let sizeMatches = c.modes.filter { $0.width == w.width && $0.height == w.height }
            let mode = w.refresh.map { r in sizeMatches.min { abs($0.refresh - r) < abs($1.refresh - r) } }
                ?? sizeMatches.first { $0.preferred } ?? sizeMatches.first
            if let mode, let r = w.refresh, abs(mode.refresh - r) > 0.5 {
                return Assignment(outputID: w.outputID, connector: c.name, mode: nil, problem: "\(c.name) offers \(w.width)x\(w.height) only at \(mode)")
            }
            return Assignment(outputID: w.outputID, connector: c.name, mode: mode,
                              problem: mode == nil ? "\(c.name) does not offer \(w.width)x\(w.height)" : nil)
        }
    }
}
