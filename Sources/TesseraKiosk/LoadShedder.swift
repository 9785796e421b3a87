import Foundation
import TesseraCore
import TesseraMedia

/// The wall's overload policy, as a pure decision over load figures (no clock, no threads): given
/// each half second's refresh ticks, dropped ticks and the streams that fell behind their own clock,
/// the shedding level; and for a level and a tile, what its stream sheds (`StreamShedding`).
/// `LoadShedding` runs it.
///
/// Overload shows in two places: presents miss their refresh (the render thread starved), or
/// decoders cannot keep up and streams fall behind until they skip ahead to a keyframe
/// (`MediaConfiguration.catchUpAfter`, a frozen tile). The policy sheds work in an order that costs
/// the viewer least, small tiles before large ones, never stopping a tile:
///
/// | level | small tiles (picture ≤ 640x360) | larger tiles |
/// |---:|---|---|
/// | 0 | everything | everything |
/// | 1 | non-reference frames skipped, no deblocking on non-reference frames | everything |
/// | 2 | as 1 | as small tiles at 1 |
/// | 3 | as 1, at most 20 pictures/s shown | as 2 |
/// | 4 | as 1, no deblocking at all, at most 15 pictures/s shown | as 2 |
/// | 5 | as 4 | as 2, at most 15 pictures/s shown |
/// | 6 | as 4, at most 10 pictures/s shown | as 5 |
///
/// Skipped non-reference frames and deblocking cost decode time only where streams have them;
/// pictures not shown are still decoded (the frames after them refer to them) but never drawn,
/// which is most of a small tile's cost on the CPU renderer (each arriving picture is drawn into
/// the next buffer as it comes), and the time saved goes to the decoders. Level 6 goes below 15
/// pictures/s: the last resort before presents fall behind.
///
/// Samples come every half second (`LoadShedding.period`), so a level that does not fit costs at
/// most that long of dropped ticks. **Up**: a sample with at least `raiseAtDropped` of its ticks
/// dropped, or at least `raiseAtBehind` of the visible streams (one at least) falling behind, raises
/// the level by one (two when a quarter of the ticks dropped or a quarter of the streams fell
/// behind); streams behind alone raise it to `maxLevelForBehind` (2) at most, as showing fewer
/// pictures does not help decoders that cannot keep up. **Down**: after `calm` seconds with no tick dropped and no stream behind, one level down.
/// **Hysteresis**: a raise within `relapseWindow` seconds of a step down doubles `calm` (up to
/// `calmMax`), so a level that does not fit is not tried again every few seconds; `calm` returns to
/// `calmMin` once a step down has held for `relapseWindow`.
///
/// The CPU figure is not an input: decoders run at a lower priority and take whatever CPU the
/// render thread leaves, so a saturated CPU says nothing about whether the wall keeps up (an earlier
/// version raised at 97% CPU and sat at its top level while every present was on time).
public struct LoadShedder: Sendable, Hashable {
    /// Half a second (or so) of figures.
    public struct Sample: Sendable, Hashable {
        /// Refresh ticks in the window (presented + dropped) and those dropped, over all outputs.
        public var ticks: Int
        public var dropped: Int
        /// Times a visible stream fell behind its own clock and skipped ahead (`StreamStats.catchUps`)
        /// in the window, and the visible streams.
        public var behind: Int
        public var streams: Int
        /// Length of the window, seconds.
        public var seconds: Double
        public init(ticks: Int, dropped: Int, behind: Int = 0, streams: Int = 0, seconds: Double) {
            self.ticks = ticks; self.dropped = dropped; self.behind = behind; self.streams = streams; self.seconds = seconds
        }
    }

    public static let maxLevel = 6
    /// The highest level streams falling behind raise to on their own: the levels that lighten
    /// decoding (non-reference frames and their deblocking skipped), none that show fewer pictures.
    public static let maxLevelForBehind = 2
    public var raiseAtDropped = 0.02
    public var raiseAtBehind = 0.02
    public var calmMin = 5.0
    public var calmMax = 300.0
    public var relapseWindow = 30.0

    public private(set) var level = 0
    /// Seconds of calm needed before the next step down.
    public private(set) var calm = 5.0
    private var calmSoFar = 0.0
    private var now = 0.0
    private var loweredAt: Double?

    public init() {}

    /// The level after `sample`.
    @discardableResult
    public mutating func next(_ sample: Sample) -> Int {
        let seconds = max(0, sample.seconds.isFinite ? sample.seconds : 0)
        now += seconds
        let droppedShare = sample.ticks > 0 ? Double(max(0, sample.dropped)) / Double(sample.ticks) : 0
        let behind = max(0, sample.behind)
        let behindShare = behind > 0 ? Double(behind) / Double(max(1, sample.streams)) : 0
        let dropping = droppedShare >= raiseAtDropped
        if dropping || (behind > 0 && behindShare >= raiseAtBehind) {
            calmSoFar = 0
            // Streams behind, presents on time: the decoders are short, not the render thread.
            // Only the levels that lighten decoding help them; fewer pictures shown would only
            // throw away pictures already decoded (measured: 4.8 instead of 6.9 per tile a second).
            let top = dropping ? Self.maxLevel : Self.maxLevelForBehind
            guard level < top else { return level }
            if let loweredAt, now - loweredAt <= relapseWindow { calm = min(calmMax, calm * 2) }
            loweredAt = nil
            level = min(top, level + (droppedShare >= 0.25 || behindShare >= 0.25 ? 2 : 1))
            return level
        }
        if let at = loweredAt, now - at > relapseWindow { calm = calmMin; loweredAt = nil }
        guard level > 0, sample.dropped <= 0, behind == 0 else { calmSoFar = 0; return level }
        calmSoFar += seconds
        if calmSoFar >= calm {
            level -= 1
            calmSoFar = 0
            loweredAt = now
        }
        return level
    }

    /// Pictures at most this many pixels wide and high count as small tiles.
    public static let smallTile = Size(width: 640, height: 360)

    /// What a stream shown at most `size` large (its largest tile's picture box) sheds at `level`.
    public static func shedding(level: Int, largestTile size: Size) -> StreamShedding {
        let small = size.width <= smallTile.width && size.height <= smallTile.height
        let exact = StreamShedding(skipNonReference: true, skipLoopFilter: .nonReference)
        switch (level, small) {
        case (...0, _), (1, false): return .none
        case (1...2, _), (3...4, false): return exact
        case (3, true): return StreamShedding(skipNonReference: true, skipLoopFilter: .nonReference, maxShownPerSecond: 20)
        case (4...5, true): return StreamShedding(skipNonReference: true, skipLoopFilter: .always, maxShownPerSecond: 15)
        case (5..., false): return StreamShedding(skipNonReference: true, skipLoopFilter: .nonReference, maxShownPerSecond: 15)
        default: return StreamShedding(skipNonReference: true, skipLoopFilter: .always, maxShownPerSecond: 10)
        }
    }

    /// Each visible stream's largest picture box in `scene`.
    public static func largestTiles(in scene: Scene) -> [StreamID: Size] {
        var sizes: [StreamID: Size] = [:]
        for tile in scene.outputs.flatMap(\.tiles) {
            guard let p = tile.participant else { continue }
            let id = StreamID(p, tile.stream)
            let old = sizes[id] ?? Size(width: 0, height: 0)
            sizes[id] = Size(width: max(old.width, tile.contentSize.width), height: max(old.height, tile.contentSize.height))
        }
        return sizes
    }

    /// For the progress line and logs.
    public static func summary(level: Int) -> String {
        switch level {
        case ...0: "nothing shed"
        case 1: "small tiles: non-reference frames skipped"
        case 2: "non-reference frames skipped"
        case 3: "small tiles at most 20 pictures/s"
        case 4: "small tiles at most 15 pictures/s, no deblocking"
        case 5: "every tile at most 15 pictures/s"
        default: "small tiles at most 10 pictures/s"
        }
    }
}
