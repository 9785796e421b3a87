import Foundation
internal import CDRM

/// The DRM devices on this machine, for `tessera outputs` and `tessera doctor`.
public enum DRMDevices {
    /// Whether the kernel's DRM is usable at all (libdrm's drmAvailable: a /dev/dri card opens).
    public static var available: Bool { drmAvailable() == 1 }

    /// Primary nodes (`/dev/dri/card*`), sorted; empty on machines without a display device.
    public static func cards(in directory: String = "/dev/dri") -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("card") }.sorted().map { directory + "/" + $0 }
    }

    /// The DRM fourcc for XRGB8888, the scan-out format both renderers write.
    public static var xrgb8888: UInt32 { tessera_drm_format_xrgb8888() }
}
