internal import CFFmpeg
import Foundation
import Logging
import Synchronization
import TesseraCore

/// Media's face to the kiosk: keeps one decoding stream per requested participant stream, opens
/// and closes them as a diff of what the scene shows, and reports how they are doing.
///
/// Thread-safe; `update(desired:)` never blocks on a stream (closing asks the stream's thread to
/// end and returns). Each stream decodes on its own Thread; one stream's failure never touches
/// another's.
///
/// Logs through the logger it is given (FFmpeg's messages included, `FFmpegLog`), each stream's
/// lines with `stream` metadata, every line masked (`RedactingLogHandler`): URLs from the network
/// may carry credentials.
public final class MediaEngine: FrameSourceLookup, @unchecked Sendable {
    public let configuration: MediaConfiguration
    private let logger: Logger
    private let table = Mutex(Table())
    private let hardware: HardwareDevice?
    /// Shared by every stream of this engine: how many decode at once.
    let decodeGate: DecodeGate
    private let housekeeper = WorkerThread(name: "media housekeeper", stackSize: 256 << 10)

    private struct Table {
        var streams: [StreamID: Entry] = [:]
        /// Workers asked to stop whose threads may still be running; joined by `shutdown()`.
        var retiring: [StreamWorker] = []
        var shuttingDown = false
    }

    private struct Entry {
        var request: StreamRequest
        var worker: StreamWorker
        /// Set while the stream is out of the scene: it closes at this time unless requested again.
        var closeAt: ContinuousClock.Instant?
    }

    /// `logger`: where Media's and FFmpeg's messages go (none by default); at `debug` FFmpeg's
    /// warnings and information come too, otherwise only its errors (as warnings).
    public init(configuration: MediaConfiguration = MediaConfiguration(), logger: Logger = .discarding("tessera.media")) {
        self.configuration = configuration
        self.logger = logger.redacting
        decodeGate = DecodeGate(tokens: configuration.decodeTokens ?? ProcessInfo.processInfo.activeProcessorCount)
        FFmpegLog.install(self.logger)
        if let n = configuration.mallocMmapThreshold { Malloc.fixMmapThreshold(n) }
        if configuration.hardwareDecode == .auto, let node = HardwareDevice.renderNode() {
            hardware = HardwareDevice.open(node: node, exportDMABuf: configuration.exportDMABuf, logger: self.logger)
        } else {
            hardware = nil
        }
        housekeeper.start { [self] in housekeep() }
    }

    deinit { shutdown() }

    /// Makes the open streams match `desired`: opens new ones, keeps the ones whose URL did not
    /// change (a signaling resync does not restart them), changes priorities, and lets the ones no
    /// longer desired run on keyframes only for `closeGrace` before they close. Returns the
    /// requests refused by the URL policy (never opened), with the reason.
    @discardableResult
    public func update(desired: [StreamRequest]) -> [StreamID: MediaError] {
        var refused: [StreamID: MediaError] = [:]
        var toStop: [StreamWorker] = []
        var toStart: [StreamWorker] = []
        let now = ContinuousClock.now
        let proceed = table.withLock { t -> Bool in
            if t.shuttingDown { return false }
            var wanted = Set<StreamID>()
            for request in desired {
                guard !wanted.contains(request.id) else { continue }
                wanted.insert(request.id)
                if var entry = t.streams[request.id], entry.request.url == request.url, entry.request.origin == request.origin {
                    entry.closeAt = nil
                    entry.request.priority = request.priority
                    entry.worker.mailbox.setPriority(request.priority)
                    t.streams[request.id] = entry
                    continue
                }
                if let old = t.streams.removeValue(forKey: request.id) { toStop.append(old.worker) }
                let checked: CheckedURL
                do throws(MediaError) { checked = try configuration.policy.check(request.url, origin: request.origin) } catch {
                    refused[request.id] = error
                    continue
                }
                let worker = StreamWorker(request: request, url: checked, config: configuration, logger: logger(for: request.id), hardware: hardware,
                                          gate: decodeGate)
                t.streams[request.id] = Entry(request: request, worker: worker, closeAt: nil)
                toStart.append(worker)
            }
            for (id, entry) in t.streams where !wanted.contains(id) && entry.closeAt == nil {
                if configuration.closeGrace <= .zero {
                    t.streams[id] = nil
                    toStop.append(entry.worker)
                } else {
                    t.streams[id]!.closeAt = now + configuration.closeGrace
                    entry.worker.mailbox.setPriority(.warm)
                }
            }
            t.retiring.append(contentsOf: toStop)
            return true
        }
        guard proceed else { return [:] }
        for w in toStop { w.stop() }
        for w in toStart { w.start() }
        for (id, error) in refused { logger(for: id).warning("\(error)") }
        return refused
    }

    /// The engine's logger with the stream's id as `stream` metadata.
    private func logger(for id: StreamID) -> Logger {
        var l = logger
        l[metadataKey: "stream"] = "\(id)"
        return l
    }

    /// The renderer's view of a stream (nil when it is not open): the engine is the renderer's
    /// `FrameSourceLookup`. Takes the engine's lock for a dictionary lookup, never a stream's work.
    public func source(for id: StreamID) -> (any FrameSource)? { mailbox(for: id) }

    /// The stream's mailbox with Media's extras (stats, latency histograms, decoded-frame access).
    public func mailbox(for id: StreamID) -> StreamMailbox? {
        table.withLock { $0.streams[id]?.worker.mailbox }
    }

    /// The stream's worker, when it is open (load shedding, StreamShedding.swift).
    func worker(for id: StreamID) -> StreamWorker? {
        table.withLock { $0.streams[id]?.worker }
    }

    /// The streams open now (including those in their close grace period).
    public var openStreams: [StreamID] {
        table.withLock { $0.streams.keys.sorted() }
    }

    public var stats: MediaStats {
        let boxes = table.withLock { $0.streams.values.map(\.worker.mailbox) }
        return MediaStats(streams: boxes.map(\.snapshot).sorted { $0.id < $1.id })
    }

    /// Threads of closed streams that have not ended yet.
    public var retiringCount: Int {
        table.withLock { t in
            t.retiring.removeAll { $0.isFinished }
            return t.retiring.count
        }
    }

    /// Whether every stream's thread has ended (files with `loopFiles` off, after they end).
    public var allFinished: Bool {
        table.withLock { $0.streams.values.allSatisfy { $0.worker.isFinished } }
    }

    /// Stops every stream and waits (up to `timeout`) for their threads to end.
    public func shutdown(timeout: Duration = .seconds(5)) {
        let (all, first) = table.withLock { t in
            let all = t.streams.values.map(\.worker) + t.retiring
            t.streams = [:]; t.retiring = []
            defer { t.shuttingDown = true }
            return (all, !t.shuttingDown)
        }
        if first { housekeeper.stop(timeout: .seconds(1)) }
        for w in all { w.stop() }
        for w in all where !w.join(timeout: timeout) {
            logger(for: w.id).error("its thread did not end within \(timeout)")
        }
    }

    /// Closes streams whose grace period is over; forgets threads that have ended.
    private func housekeep() {
        while housekeeper.sleep(for: .milliseconds(200)) {
            let now = ContinuousClock.now
            let expired = table.withLock { t -> [StreamWorker]? in
                if t.shuttingDown { return nil }
                var expired: [StreamWorker] = []
                for (id, entry) in t.streams {
                    if let closeAt = entry.closeAt, closeAt <= now { t.streams[id] = nil; expired.append(entry.worker) }
                }
                t.retiring.removeAll { $0.isFinished }
                t.retiring.append(contentsOf: expired)
                return expired
            }
            guard let expired else { return }
            for w in expired { w.stop() }
        }
    }
}

/// glibc malloc controls and figures (see `MediaConfiguration.mallocMmapThreshold`).
public enum Malloc {
    private static let threshold = Mutex<Int?>(nil)

    /// Fixes the mmap threshold for the rest of the process; the first call wins.
    static func fixMmapThreshold(_ bytes: Int) {
        threshold.withLock { threshold in
            guard threshold == nil, bytes > 0 else { return }
            threshold = bytes
            _ = tessera_malloc_set_mmap_threshold(Int32(clamping: bytes))
        }
    }

    /// The mmap threshold Media set, if any.
    public static var mmapThresholdSet: Int? { threshold.withLock { $0 } }

    /// Bytes the process has allocated through malloc and not freed (`mallinfo2`: all arenas and
    /// mmapped chunks) — what the program holds, as opposed to resident memory, which also counts
    /// freed memory malloc keeps for reuse.
    public static var bytesInUse: Int { Int(tessera_malloc_in_use()) }

    /// Bytes malloc keeps free for reuse (`mallinfo2` fordblks, all arenas). Pages of it that were
    /// written stay resident until `trim()`.
    public static var bytesFree: Int { Int(tessera_malloc_free_held()) }

    /// Hands the whole free pages of every arena back to the system (`malloc_trim(0)`, which since
    /// glibc 2.8 releases free pages anywhere in a heap, not only at its top).
    public static func trim() { _ = tessera_malloc_trim() }
}
