import TesseraCore
import TesseraMedia
@testable import TesseraKiosk
import Testing

/// The overload policy on synthetic load figures: one sample a second, 30 ticks each.
@Suite struct LoadShedderTests {
    static func second(dropped: Int = 0, behind: Int = 0, streams: Int = 100) -> LoadShedder.Sample {
        LoadShedder.Sample(ticks: 30, dropped: dropped, behind: behind, streams: streams, seconds: 1)
    }

    @Test func dropsRaiseOneLevelASecondAndTwoWhenAQuarterDrop() {
        var s = LoadShedder()
        #expect(s.next(Self.second(dropped: 1)) == 1, "one dropped tick of 30 is over 2 %")
        #expect(s.next(Self.second(dropped: 3)) == 2)
        #expect(s.next(Self.second(dropped: 18)) == 4, "60 % dropped: two levels")
        for _ in 0..<5 { s.next(Self.second(dropped: 18)) }
        #expect(s.level == LoadShedder.maxLevel, "never beyond the last level")
    }

    @Test func streamsFallingBehindRaiseEvenWithoutDrops() {
        var s = LoadShedder()
        #expect(s.next(Self.second(behind: 1, streams: 250)) == 0, "one stream of 250 behind: its own trouble (a network burst)")
        #expect(s.next(Self.second(behind: 5, streams: 250)) == 1, "2 % of the streams")
        #expect(s.next(Self.second(behind: 1, streams: 16)) == 2, "one of 16 is over 2 %")
        #expect(s.next(Self.second(behind: 70, streams: 250)) == 2, "streams behind alone: no level that shows fewer pictures")
        #expect(s.next(Self.second(dropped: 1, behind: 70, streams: 250)) == 4, "with drops too, over a quarter behind: two levels")
        var t = LoadShedder()
        #expect(t.next(Self.second(behind: 1, streams: 0)) == 2, "a stream behind with no visible count: one of one, over a quarter")
    }

    @Test func stepsDownOnlyAfterCalmSecondsWithNothingBehind() {
        var s = LoadShedder()
        s.next(Self.second(dropped: 10)); s.next(Self.second(dropped: 10))
        #expect(s.level == 4)
        for _ in 0..<20 { s.next(Self.second(behind: 5)) }
        #expect(s.level == 4, "no drops but a stream still falls behind now and then: the level that fits is kept")
        for _ in 0..<4 { s.next(Self.second()) }
        #expect(s.level == 4, "4 calm seconds are not enough")
        #expect(s.next(Self.second()) == 3, "the 5th is")
        s.next(Self.second(behind: 1))
        for _ in 0..<4 { s.next(Self.second()) }
        #expect(s.level == 3, "a stream behind starts the calm count again")
    }

    @Test func aRelapseAfterAStepDownDoublesTheCalmAndItResetsOnceAStepHolds() {
        var s = LoadShedder()
        s.next(Self.second(dropped: 3))                      // level 1
        for _ in 0..<5 { s.next(Self.second()) }              // down to 0
        #expect(s.level == 0)
        s.next(Self.second(dropped: 3))                      // relapse within 30 s
        #expect(s.level == 1 && s.calm == 10)
        for _ in 0..<9 { s.next(Self.second()) }
        #expect(s.level == 1, "now 10 calm seconds are needed")
        s.next(Self.second())
        #expect(s.level == 0)
        s.next(Self.second(dropped: 3))
        #expect(s.calm == 20)
        for _ in 0..<20 { s.next(Self.second()) }             // down again, and it holds
        #expect(s.level == 0)
        for _ in 0..<31 { s.next(Self.second()) }
        #expect(s.calm == s.calmMin, "a step down that held for 30 s: back to the short calm")
    }

    @Test func nonsenseFiguresChangeNothing() {
        var s = LoadShedder()
        s.next(LoadShedder.Sample(ticks: 0, dropped: 0, behind: 0, streams: -1, seconds: .infinity))
        s.next(LoadShedder.Sample(ticks: 0, dropped: -5, behind: -3, streams: -1, seconds: -3))
        #expect(s.level == 0)
    }

    @Test(arguments: [
        // level, tile, skip non-ref, loop filter, max shown/s
        (0, Size(width: 232, height: 127), false, StreamShedding.LoopFilter.never, nil as Double?),
        (1, Size(width: 232, height: 127), true, .nonReference, nil),
        (1, Size(width: 1920, height: 1080), false, .never, nil),
        (2, Size(width: 1920, height: 1080), true, .nonReference, nil),
        (3, Size(width: 640, height: 360), true, .nonReference, 20),
        (3, Size(width: 641, height: 360), true, .nonReference, nil),
        (4, Size(width: 232, height: 127), true, .always, 15),
        (4, Size(width: 1280, height: 720), true, .nonReference, nil),
        (5, Size(width: 232, height: 127), true, .always, 15),
        (5, Size(width: 1280, height: 720), true, .nonReference, 15),
        (6, Size(width: 232, height: 127), true, .always, 10),
        (6, Size(width: 1280, height: 720), true, .nonReference, 15),
    ])
    func whatEachLevelShedsBySize(_ c: (Int, Size, Bool, StreamShedding.LoopFilter, Double?)) {
        let s = LoadShedder.shedding(level: c.0, largestTile: c.1)
        #expect(s == StreamShedding(skipNonReference: c.2, skipLoopFilter: c.3, maxShownPerSecond: c.4))
        #expect(c.4 == nil || c.4! >= 15 || c.0 == LoadShedder.maxLevel, "below 15 pictures/s only at the last level")
    }

    @Test func aStreamIsAsLargeAsItsLargestTile() {
        let p = ParticipantID("p1")
        func tile(_ w: Int, _ h: Int) -> Tile {
            Tile(participant: p, zone: "z", rect: Rect(x: 0, y: 0, width: w, height: h), fit: .contain, background: Color(red: 0, green: 0, blue: 0))
        }
        let scene = Scene(preset: "x", page: 0, pageCount: 1, outputs: [
            OutputScene(id: "a", size: Size(width: 3840, height: 2160), rotation: .none, background: Color(red: 0, green: 0, blue: 0),
                        tiles: [tile(232, 127), tile(1280, 200)]),
        ])
        #expect(LoadShedder.largestTiles(in: scene) == [StreamID(p): Size(width: 1280, height: 200)])
    }
}
