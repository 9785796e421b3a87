@testable import TesseraKiosk
import TesseraCore
import Testing

/// The render loop's pacing learns from measured draws. On a starved machine the averages can reach
/// absurd values; turning them into a `Duration` trapped and ended a wall under heaptrack
/// ("Double value cannot be converted to _Int128"). They are clamped now.
@Suite struct PaceTests {
    @Test func absurdFiguresNeverTrap() {
        var pace = OutputThread.Pace()
        let t0 = ContinuousClock.now
        // Two draws of 100 tiles, one second each, ending an attosecond apart: the tile rate learnt is
        // about 1e20 tiles a second.
        let end1 = t0 + .seconds(1)
        pace.drew(tiles: 100, from: t0, to: end1)
        let end2 = end1 + .nanoseconds(1) / 1_000_000_000
        pace.drew(tiles: 100, from: end2 - .seconds(1), to: end2)
        let now = end2 + .seconds(10_000)
        #expect(!pace.roundFits(now: now, due: now + .milliseconds(16)), "a round that cannot fit is refused, not trapped on")
        let latest = pace.latestStart(due: now + .milliseconds(16))
        #expect(latest != nil)
    }

    @Test func clampedSeconds() {
        #expect(Duration.seconds(clamping: .nan) == .zero)
        #expect(Duration.seconds(clamping: -3) == .zero)
        #expect(Duration.seconds(clamping: .infinity) == .seconds(86_400))
        #expect(Duration.seconds(clamping: 1e30, to: .seconds(5)) == .seconds(5))
        #expect(Duration.seconds(clamping: 0.25) == .milliseconds(250))
    }
}
