import Foundation
import Synchronization
internal import CDRM
import TesseraCore

// The thin ioctl layer under DRMBackend: each call does one libdrm call and throws an
// OutputError.drm naming it, the device and errno. Decisions live in DRMPlan.swift.

extension DRMCard {
    /// The kernel driver's name ("virtio_gpu", "i915").
    public var driverName: String {
        guard let v = drmGetVersion(fd) else { return "unknown" }
        defer { drmFreeVersion(v) }
        return v.pointee.name.map { String(cString: $0) } ?? "unknown"
    }

    /// Connectors, CRTCs and planes (universal planes, so primaries are listed).
    public func resources(probe: Bool = true) throws(OutputError) -> DRMResources {
        _ = drmSetClientCap(fd, UInt64(DRM_CLIENT_CAP_UNIVERSAL_PLANES), 1)
        let connectors = try connectors(probe: probe)
        guard let res = drmModeGetResources(fd) else { throw .drm(operation: "drmModeGetResources", device: path, errno: errno) }
        defer { drmModeFreeResources(res) }
        let crtcs = (0..<Int(res.pointee.count_crtcs)).map { DRMCRTC(id: res.pointee.crtcs[$0], index: $0) }
        guard let pres = drmModeGetPlaneResources(fd) else { throw .drm(operation: "drmModeGetPlaneResources", device: path, errno: errno) }
        defer { drmModeFreePlaneResources(pres) }
        var planes: [DRMPlane] = []
        for i in 0..<Int(pres.pointee.count_planes) {
            let id = pres.pointee.planes[i]
            guard let p = drmModeGetPlane(fd, id) else { continue }
            defer { drmModeFreePlane(p) }
            let formats = (0..<Int(p.pointee.count_formats)).map { p.pointee.formats[$0] }
            let props = (try? properties(of: id, type: UInt32(DRM_MODE_OBJECT_PLANE), values: true)) ?? [:]
            let kind: DRMPlane.Kind = switch props["type"]?.value {
            case UInt64(DRM_PLANE_TYPE_PRIMARY): .primary
            case UInt64(DRM_PLANE_TYPE_CURSOR): .cursor
            default: .overlay
            }
            planes.append(DRMPlane(id: id, kind: kind, possibleCRTCs: p.pointee.possible_crtcs, formats: formats))
        }
        return DRMResources(connectors: connectors, crtcs: crtcs, planes: planes)
    }

    /// An object's properties: name → (property id, current value).
    func properties(of object: UInt32, type: UInt32, values: Bool) throws(OutputError) -> [String: (id: UInt32, value: UInt64)] {
        guard let props = drmModeObjectGetProperties(fd, object, type) else {
            throw .drm(operation: "drmModeObjectGetProperties(\(object))", device: path, errno: errno)
        }
        defer { drmModeFreeObjectProperties(props) }
        var out: [String: (id: UInt32, value: UInt64)] = [:]
        for i in 0..<Int(props.pointee.count_props) {
            guard let p = drmModeGetProperty(fd, props.pointee.props[i]) else { continue }
            defer { drmModeFreeProperty(p) }
            let name = withUnsafeBytes(of: p.pointee.name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            out[name] = (p.pointee.prop_id, props.pointee.prop_values[i])
        }
        return out
    }

    // MARK: Master

    /// DRM master: the one client allowed to set modes. A VT-less kiosk gets it by being first.
    func setMaster() throws(OutputError) {
        guard drmSetMaster(fd) == 0 else { throw .drm(operation: "drmSetMaster (another compositor or X server running?)", device: path, errno: errno) }
    }

    func dropMaster() { _ = drmDropMaster(fd) }

    /// Turns on atomic modesetting (and universal planes); false where the driver lacks it.
    func enableAtomic() -> Bool {
        drmSetClientCap(fd, UInt64(DRM_CLIENT_CAP_UNIVERSAL_PLANES), 1) == 0
            && drmSetClientCap(fd, UInt64(DRM_CLIENT_CAP_ATOMIC), 1) == 0
    }

    /// DRM_CAP_ADDFB2_MODIFIERS.
    var takesModifiers: Bool {
        var value: UInt64 = 0
        return drmGetCap(fd, UInt64(DRM_CAP_ADDFB2_MODIFIERS), &value) == 0 && value != 0
    }

    /// DRM_CAP_DUMB_BUFFER.
    var hasDumbBuffers: Bool {
        var value: UInt64 = 0
        return drmGetCap(fd, UInt64(DRM_CAP_DUMB_BUFFER), &value) == 0 && value != 0
    }

    // MARK: Modes

    /// The kernel's mode record for `placement` (fetched again: the mode list is the kernel's).
    func modeInfo(_ placement: DRMPlacement) throws(OutputError) -> drmModeModeInfo {
        guard let c = drmModeGetConnectorCurrent(fd, placement.connectorID) else {
            throw .drm(operation: "drmModeGetConnectorCurrent(\(placement.connectorName))", device: path, errno: errno)
        }
        defer { drmModeFreeConnector(c) }
        guard placement.modeIndex < Int(c.pointee.count_modes) else {
            throw .config("\(placement.connectorName) no longer lists mode \(placement.mode) (\(path))")
        }
        let m = c.pointee.modes[placement.modeIndex]
        guard Int(m.hdisplay) == placement.mode.width, Int(m.vdisplay) == placement.mode.height else {
            throw .config("\(placement.connectorName)'s mode list changed under output \(placement.outputID) (\(path))")
        }
        return m
    }

    func createModeBlob(_ mode: drmModeModeInfo) throws(OutputError) -> UInt32 {
        var mode = mode
        var blob: UInt32 = 0
        let r = drmModeCreatePropertyBlob(fd, &mode, MemoryLayout<drmModeModeInfo>.size, &blob)
        guard r == 0 else { throw .drm(operation: "drmModeCreatePropertyBlob(mode)", device: path, errno: -r) }
        return blob
    }

    func destroyBlob(_ blob: UInt32) { if blob != 0 { _ = drmModeDestroyPropertyBlob(fd, blob) } }

    // MARK: Commits

    struct AtomicFlags: OptionSet {
        let rawValue: UInt32
        static let pageFlipEvent = AtomicFlags(rawValue: UInt32(DRM_MODE_PAGE_FLIP_EVENT))
        static let testOnly = AtomicFlags(rawValue: UInt32(DRM_MODE_ATOMIC_TEST_ONLY))
        static let nonBlock = AtomicFlags(rawValue: UInt32(DRM_MODE_ATOMIC_NONBLOCK))
        static let allowModeset = AtomicFlags(rawValue: UInt32(DRM_MODE_ATOMIC_ALLOW_MODESET))
    }

    /// drmModeAtomicCommit of `request`; `userData` comes back with the page-flip event.
    func commit(_ request: AtomicRequest, properties: PropertyTable, flags: AtomicFlags, userData: UInt32) throws(OutputError) {
        let items = try request.resolve(try properties.ids(for: request.objects, card: self))
        guard let req = drmModeAtomicAlloc() else { throw .drm(operation: "drmModeAtomicAlloc", device: path, errno: ENOMEM) }
        defer { drmModeAtomicFree(req) }
        for item in items {
            guard drmModeAtomicAddProperty(req, item.object, item.property, item.value) >= 0 else {
                throw .drm(operation: "drmModeAtomicAddProperty", device: path, errno: ENOMEM)
            }
        }
        let r = drmModeAtomicCommit(fd, req, flags.rawValue, UnsafeMutableRawPointer(bitPattern: UInt(userData)))
        guard r == 0 else {
            let what = flags.contains(.testOnly) ? "drmModeAtomicCommit(TEST_ONLY)" : "drmModeAtomicCommit"
            throw .drm(operation: what, device: path, errno: r < 0 ? -r : errno)
        }
    }

    /// Legacy modeset: drmModeSetCrtc shows `fb` on the CRTC at the mode (no event: done on return).
    func setCRTC(_ placement: DRMPlacement, mode: drmModeModeInfo?, framebuffer fb: UInt32) throws(OutputError) {
        var mode = mode
        var connector = placement.connectorID
        let r: Int32 = if mode != nil {
            drmModeSetCrtc(fd, placement.crtcID, fb, 0, 0, &connector, 1, &mode!)
        } else {
            drmModeSetCrtc(fd, placement.crtcID, 0, 0, 0, nil, 0, nil)
        }
        guard r == 0 else { throw .drm(operation: "drmModeSetCrtc(CRTC \(placement.crtcID), \(placement.connectorName))", device: path, errno: -r) }
    }

    /// Legacy flip: drmModePageFlip with an event carrying `userData`.
    func pageFlip(_ placement: DRMPlacement, framebuffer fb: UInt32, userData: UInt32) throws(OutputError) {
        let r = drmModePageFlip(fd, placement.crtcID, fb, UInt32(DRM_MODE_PAGE_FLIP_EVENT), UnsafeMutableRawPointer(bitPattern: UInt(userData)))
        guard r == 0 else { throw .drm(operation: "drmModePageFlip(CRTC \(placement.crtcID))", device: path, errno: -r) }
    }

    // MARK: Framebuffers

    /// Registers a single-plane XRGB8888 buffer as a framebuffer: AddFB2WithModifiers first when
    /// `call` says so, plain AddFB2 if that fails or was not chosen.
    func addFramebuffer(width: Int, height: Int, handle: UInt32, pitch: UInt32, offset: UInt32 = 0,
                        format: UInt32, call: FramebufferCall) throws(OutputError) -> UInt32 {
        var handles: (UInt32, UInt32, UInt32, UInt32) = (handle, 0, 0, 0)
        var pitches: (UInt32, UInt32, UInt32, UInt32) = (pitch, 0, 0, 0)
        var offsets: (UInt32, UInt32, UInt32, UInt32) = (offset, 0, 0, 0)
        var fb: UInt32 = 0
        if case .addFB2WithModifiers(let modifier) = call {
            var modifiers: (UInt64, UInt64, UInt64, UInt64) = (modifier, 0, 0, 0)
            let r = withUnsafeMutablePointer(to: &handles) { h in
                withUnsafeMutablePointer(to: &pitches) { p in
                    withUnsafeMutablePointer(to: &offsets) { o in
                        withUnsafeMutablePointer(to: &modifiers) { m in
                            drmModeAddFB2WithModifiers(fd, UInt32(width), UInt32(height), format,
                                                       UnsafeRawPointer(h).assumingMemoryBound(to: UInt32.self),
                                                       UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self),
                                                       UnsafeRawPointer(o).assumingMemoryBound(to: UInt32.self),
                                                       UnsafeRawPointer(m).assumingMemoryBound(to: UInt64.self),
                                                       &fb, UInt32(DRM_MODE_FB_MODIFIERS))
                        }
                    }
                }
            }
            if r == 0 { return fb }
        }
        let r = withUnsafeMutablePointer(to: &handles) { h in
            withUnsafeMutablePointer(to: &pitches) { p in
                withUnsafeMutablePointer(to: &offsets) { o in
                    drmModeAddFB2(fd, UInt32(width), UInt32(height), format,
                                  UnsafeRawPointer(h).assumingMemoryBound(to: UInt32.self),
                                  UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self),
                                  UnsafeRawPointer(o).assumingMemoryBound(to: UInt32.self), &fb, 0)
                }
            }
        }
        guard r == 0 else { throw .drm(operation: "drmModeAddFB2(\(width)x\(height))", device: path, errno: -r) }
        return fb
    }

    func removeFramebuffer(_ fb: UInt32) { if fb != 0 { _ = drmModeRmFB(fd, fb) } }

    // MARK: Events

    /// Waits up to `timeoutMS` for the card to be readable and reads its events; returns the user
    /// data of each page flip that completed (the CRTC ids DRMBackend passes). Empty on timeout.
    func readFlips(timeoutMS: Int32) throws(OutputError) -> [UInt32] {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n: Int32
        do throws(SystemCallError) { n = try SystemCall.retrying("poll") { poll(&pfd, 1, timeoutMS) } } catch {
            throw .drm(operation: error.call, device: path, errno: error.errno)
        }
        if n == 0 { return [] }
        guard tessera_drm_handle_page_flips(fd, { fd, _, _, _, data in
            DRMFlipEvents.completed.withLock { $0.append((fd, UInt32(UInt(bitPattern: data)))) }
        }) == 0 else { throw .drm(operation: "drmHandleEvent", device: path, errno: errno) }
        return DRMFlipEvents.completed.withLock { all in
            let mine = all.filter { $0.fd == fd }.map(\.crtc)
            all.removeAll { $0.fd == fd }
            return mine
        }
    }
}

/// Page-flip completions collected by the C callback (which cannot capture): (card fd, user data).
enum DRMFlipEvents {
    static let completed = Mutex<[(fd: Int32, crtc: UInt32)]>([])
}

/// Property ids per object, looked up once (they do not change while the card is open).
final class PropertyTable {
    private var table: [UInt32: [String: UInt32]] = [:]
    private let types: [UInt32: UInt32]

    /// `types`: object id → DRM_MODE_OBJECT_* type (connector, CRTC, plane).
    init(types: [UInt32: UInt32]) { self.types = types }

    func ids(for objects: [UInt32], card: DRMCard) throws(OutputError) -> [UInt32: [String: UInt32]] {
        for o in objects where table[o] == nil {
            let type = types[o] ?? UInt32(DRM_MODE_OBJECT_ANY)
            table[o] = try card.properties(of: o, type: type, values: false).mapValues(\.id)
        }
        return table
    }

    static func types(for resources: DRMResources) -> [UInt32: UInt32] {
        var t: [UInt32: UInt32] = [:]
        for c in resources.connectors { t[c.id] = UInt32(DRM_MODE_OBJECT_CONNECTOR) }
        for c in resources.crtcs { t[c.id] = UInt32(DRM_MODE_OBJECT_CRTC) }
        for p in resources.planes { t[p.id] = UInt32(DRM_MODE_OBJECT_PLANE) }
        return t
    }
}

// MARK: - Buffers

/// A dumb buffer (DRM_IOCTL_MODE_CREATE_DUMB), mapped into memory and registered as a framebuffer:
/// the CPU renderer's scan-out target. Unmapped, removed and destroyed in deinit.
public final class DumbBuffer: CPUBuffer {
    public let size: Size
    public let stride: Int
    let handle: UInt32
    let framebuffer: UInt32
    private let card: DRMCard
    private let map: UnsafeMutableRawPointer
    private let length: Int

    init(card: DRMCard, size: Size, format: UInt32) throws(OutputError) {
        var handle: UInt32 = 0, pitch: UInt32 = 0, bytes: UInt64 = 0
        var r = drmModeCreateDumbBuffer(card.fd, UInt32(size.width), UInt32(size.height), 32, 0, &handle, &pitch, &bytes)
        guard r == 0 else { throw .drm(operation: "drmModeCreateDumbBuffer(\(size.width)x\(size.height))", device: card.path, errno: -r) }
        var offset: UInt64 = 0
        r = drmModeMapDumbBuffer(card.fd, handle, &offset)
        guard r == 0 else {
            _ = drmModeDestroyDumbBuffer(card.fd, handle)
            throw .drm(operation: "drmModeMapDumbBuffer", device: card.path, errno: -r)
        }
        let p = mmap(nil, Int(bytes), PROT_READ | PROT_WRITE, MAP_SHARED, card.fd, off_t(offset))
        guard let p, p != MAP_FAILED else {
            let e = errno
            _ = drmModeDestroyDumbBuffer(card.fd, handle)
            throw .drm(operation: "mmap(dumb buffer)", device: card.path, errno: e)
        }
        do {
            framebuffer = try card.addFramebuffer(width: size.width, height: size.height, handle: handle, pitch: pitch,
                                                  format: format, call: .addFB2)
        } catch {
            munmap(p, Int(bytes)); _ = drmModeDestroyDumbBuffer(card.fd, handle)
            throw error
        }
        self.card = card; self.size = size; self.stride = Int(pitch); self.handle = handle
        self.map = p; self.length = Int(bytes)
    }

    deinit {
        card.removeFramebuffer(framebuffer)
        munmap(map, length)
        _ = drmModeDestroyDumbBuffer(card.fd, handle)
    }

    public func withMutableBytes<R>(_ body: (inout MutableRawSpan) throws -> R) rethrows -> R {
        var span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(start: map, count: stride * size.height))
        return try body(&span)
    }

    public func withBytes<R>(_ body: (RawSpan) throws -> R) rethrows -> R {
        try body(RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: map, count: stride * size.height)))
    }
}

/// A GBM device on the card (what EGL's GBM platform opens), destroyed in deinit.
final class GBMDevice {
    let pointer: OpaquePointer
    /// Held so the card's fd outlives the device made on it.
    private let card: DRMCard
    init(card: DRMCard) throws(OutputError) {
        guard let d = gbm_create_device(card.fd) else { throw .drm(operation: "gbm_create_device", device: card.path, errno: errno) }
        pointer = d; self.card = card
    }
    deinit { gbm_device_destroy(pointer) }
    var address: UInt { UInt(bitPattern: UnsafeRawPointer(pointer)) }
}

/// A GBM surface of scan-out buffers the GLES renderer draws into through EGL; destroyed in
/// deinit (after the EGL surface on it and the framebuffers of its buffers).
final class GBMSurface {
    let pointer: OpaquePointer
    let device: GBMDevice
    init(device: GBMDevice, size: Size, format: UInt32, path: String) throws(OutputError) {
        let flags = GBM_BO_USE_SCANOUT.rawValue | GBM_BO_USE_RENDERING.rawValue
        guard let s = gbm_surface_create(device.pointer, UInt32(size.width), UInt32(size.height), format, flags) else {
            throw .drm(operation: "gbm_surface_create(\(size.width)x\(size.height))", device: path, errno: errno)
        }
        self.pointer = s; self.device = device
    }
    deinit { gbm_surface_destroy(pointer) }
    var address: UInt { UInt(bitPattern: UnsafeRawPointer(pointer)) }

    /// gbm_surface_lock_front_buffer after eglSwapBuffers: the buffer just drawn, by address.
    func lockFront(path: String) throws(OutputError) -> UInt {
        guard let bo = gbm_surface_lock_front_buffer(pointer) else {
            throw .drm(operation: "gbm_surface_lock_front_buffer", device: path, errno: errno)
        }
        return UInt(bitPattern: UnsafeRawPointer(bo))
    }

    func release(_ bo: UInt) {
        guard let p = OpaquePointer(bitPattern: bo) else { return }
        gbm_surface_release_buffer(pointer, p)
    }

    /// What AddFB2 needs of a buffer object.
    static func describe(_ bo: UInt) -> (handle: UInt32, stride: UInt32, offset: UInt32, modifier: UInt64) {
        let p = OpaquePointer(bitPattern: bo)!
        return (gbm_bo_get_handle_for_plane(p, 0).u32, gbm_bo_get_stride_for_plane(p, 0), gbm_bo_get_offset(p, 0), gbm_bo_get_modifier(p))
    }
}

// MARK: - Hot-plug

/// A udev monitor on the "drm" subsystem: the kernel's hot-plug uevents (HOTPLUG=1).
final class UdevMonitor {
    private let udev: OpaquePointer
    private let monitor: OpaquePointer
    let fd: Int32

    init?() {
        guard let u = udev_new() else { return nil }
        guard let m = udev_monitor_new_from_netlink(u, "udev") else { udev_unref(u); return nil }
        guard udev_monitor_filter_add_match_subsystem_devtype(m, "drm", nil) >= 0, udev_monitor_enable_receiving(m) >= 0 else {
            udev_monitor_unref(m); udev_unref(u); return nil
        }
        udev = u; monitor = m; fd = udev_monitor_get_fd(m)
    }

    deinit { udev_monitor_unref(monitor); udev_unref(udev) }

    /// Reads every pending uevent; true if one was a DRM hot-plug.
    func drainHotplug() -> Bool {
        var any = false
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 0) > 0, let dev = udev_monitor_receive_device(monitor) else { return any }
            if let v = udev_device_get_property_value(dev, "HOTPLUG"), String(cString: v) == "1" { any = true }
            udev_device_unref(dev)
        }
    }
}
