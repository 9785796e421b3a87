import Foundation
import Logging
import ServiceLifecycle
import TesseraLayout

/// Hot reload: polls the layout file's inode, mtime and size (an editor's rename-over and an
/// in-place write both show) every `interval`; applies a valid edit, logs an invalid one and keeps
/// the last good layout. The outputs are fixed for the kiosk's life: an edit that changes them is
/// refused.
struct LayoutWatcher: Service {
    let path: String
    let interval: Duration
    /// The outputs the kiosk lit.
    let outputs: [OutputConfig]
    let wall: Wall
    let metrics: KioskMetrics
    let logger: Logger
    /// The file as it was just before the kiosk read it: an edit made after the load but before the
    /// watcher's first look is still seen.
    let loaded: FileStamp?

    struct FileStamp: Equatable { var inode: UInt64; var mtimeNs: Int64; var size: Int64 }

    static func stamp(_ path: String) -> FileStamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileStamp(inode: UInt64(st.st_ino), mtimeNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                         size: Int64(st.st_size))
    }

    func run() async {
        var last = loaded
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            let now = Self.stamp(path)
            guard now != last else { continue }
            last = now
            if now == nil { logger.warning("layout file is gone; keeping the last good layout", metadata: ["path": "\(path)"]); continue }
            reload()
        }
    }

    /// Loads the layout file again now. Returns whether the new layout is on the wall.
    @discardableResult
    func reload() -> Bool {
        switch LayoutFiles.load(path) {
        case .failure(let error):
            metrics.count("layout_reload_rejected")
            for line in error.lines { logger.error("\(line)") }
            logger.error("layout edit rejected: \(error.diagnostics.count) problem(s); the last good layout stays on screen (`tessera validate \(path)` shows them again)")
            return false
        case .success(let layout):
            let running = outputs.map { [$0.id, "\($0.mode.width)x\($0.mode.height)", "\($0.rotation.rawValue)"] }
            let wanted = layout.outputs.map { [$0.id, "\($0.mode.width)x\($0.mode.height)", "\($0.rotation.rawValue)"] }
            guard running == wanted else {
                metrics.count("layout_reload_rejected")
                logger.error("layout edit changes the outputs (ids, modes or rotation); restart tessera to apply it (systemctl restart tessera); the last good layout stays on screen")
                return false
            }
            wall.setLayout(layout)
            metrics.count("layout_reloads")
            logger.info("layout reloaded", metadata: ["path": "\(path)", "presets": "\(layout.presets.count)"])
            return true
        }
    }
}
