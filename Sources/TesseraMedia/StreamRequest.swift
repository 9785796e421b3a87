import TesseraCore

/// Who gave Media a URL. Only URLs from the wall's own configuration may name local files.
public enum StreamOrigin: String, Hashable, Sendable {
    /// From the signaling backend or any other remote party: schemes and hosts are checked.
    case network
    /// From the kiosk's own configuration (layout, slates, `tessera probe` on the command line).
    case localConfig
}

/// How much a stream is worth decoding right now.
public enum StreamPriority: String, Hashable, Sendable {
    /// On screen: every frame is decoded.
    case visible
    /// On the next page: kept connected, only keyframes are decoded, so a page flip shows a
    /// recent picture at once and full motion from the next keyframe on.
    case warm
}

/// What the kiosk wants open: `MediaEngine.update(desired:)` turns a list of these into opens,
/// priority changes and (after a grace period) closes.
public struct StreamRequest: Hashable, Sendable {
    public var id: StreamID
    public var url: String
    public var origin: StreamOrigin
    public var priority: StreamPriority

    public init(id: StreamID, url: String, origin: StreamOrigin = .network, priority: StreamPriority = .visible) {
        self.id = id; self.url = url; self.origin = origin; self.priority = priority
    }
}

/// Timings and limits of the engine, with their defaults in one place.
public struct MediaConfiguration: Sendable {
    /// Which URLs may be opened.
    public var policy = URLPolicy()
    /// No frame for this long: the tile shows `stalled` (last frame still up).
    public var stallAfter: Duration = .milliseconds(1000)
    /// No frame for this long: the input is closed, the stream is `offline` and reconnects.
    /// Also bounds every blocking call while playing.
    public var offlineAfter: Duration = .milliseconds(3000)
    /// Bound on opening an input up to its first decoded frame.
    public var openTimeout: Duration = .seconds(5)
    /// Reconnect backoff: first delay, doubling up to `backoffMax`, each scaled by 1 ± `backoffJitter`.
    public var backoffInitial: Duration = .milliseconds(200)
    public var backoffMax: Duration = .milliseconds(1000)
    public var backoffJitter: Double = 0.2
    /// A stream removed from the scene keeps running (keyframes only) this long before it closes,
    /// so paging back and forth does not reconnect.
    public var closeGrace: Duration = .seconds(5)
    /// Try VAAPI when a render node exists (software decode otherwise, and on any failure).
    public var hardwareDecode: HardwareDecodePolicy = .auto
    /// Hand VAAPI frames over as dma-bufs (DRM-PRIME, no copy) instead of downloading them to
    /// NV12. Only for a renderer that imports them (`GLESRenderer.canImportDMABuf`); a frame whose
    /// mapping fails is downloaded as before, and so is every later frame of that stream.
    public var exportDMABuf: Bool = false
    /// Files (local configuration only) start again from the beginning when they end; `false`
    /// makes them end (`offline`) — what benchmarks want.
    public var loopFiles: Bool = true
    /// Files are read as fast as they decode (benchmarks) rather than at their frame rate.
    public var paceFiles: Bool = true
    /// Files wait until the renderer has taken their last frame before putting the next one in the
    /// mailbox, so every decoded frame is shown exactly once (the composition benchmark: what
    /// `ffmpeg … xstack` and GStreamer's `compositor` do with files). Off for the wall.
    public var lockstepFiles: Bool = false
    /// A stream whose packets come this far behind their own clock skips ahead to a keyframe that
    /// is on time (`CatchUp`); nil: it decodes every packet however late. Not for lock-step files.
    public var catchUpAfter: Duration? = .seconds(1)
    /// How many streams may decode at the same moment (`DecodeGate`); nil: one per core.
    public var decodeTokens: Int?
    /// Stack of each stream thread (address space; only the pages touched, about 30 KiB, are resident).
    public var threadStackBytes: Int = 1 << 20
    /// Allocations of at least this many bytes get their own mmap, always
    /// (`mallopt(M_MMAP_THRESHOLD)`, set when the first engine starts; nil leaves glibc's
    /// sliding threshold). Process-wide on purpose: glibc raises the threshold whenever a large
    /// mmapped block is freed, after which each stream's large, mostly unwritten buffers (two
    /// 200 KiB MPEG-TS PES buffers, codec contexts) come from the heap, where pages written by
    /// earlier users stay resident: 2.14 → 1.93 MiB per live 320x180 stream (docs/media.md, "Memory").
    public var mallocMmapThreshold: Int? = 128 << 10

    public init() {}
}

public enum HardwareDecodePolicy: String, Sendable {
    case auto, off
}
