/// A token bucket: `burst` messages at once, refilled at `perSecond`. Not thread-safe; each
/// connection owns its own.
public struct RateLimiter: Sendable {
    public var perSecond: Double
    public var burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    public init(perSecond: Double, burst: Double, now: ContinuousClock.Instant = .now) {
        self.perSecond = perSecond; self.burst = burst; tokens = burst; last = now
    }

    /// Takes one token; false when the bucket is empty.
    public mutating func allow(now: ContinuousClock.Instant = .now) -> Bool {
        let elapsed = now - last
        last = now
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        tokens = min(burst, tokens + seconds * perSecond)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// Reconnect delays: exponential from `initial` to `maximum`, each drawn uniformly from its upper
/// half ("equal jitter") so walls that lost the backend together do not return together.
public struct Backoff: Hashable, Sendable {
    public var initial: Duration
    public var maximum: Duration
    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        self.initial = initial; self.maximum = maximum
    }

    public func delay(attempt: Int, random: Double = .random(in: 0...1)) -> Duration {
        let cap = maximum / .seconds(1)
        let base = min(cap, (initial / .seconds(1)) * pow2(min(attempt, 30)))
        return .seconds(base / 2 + base / 2 * random)
    }

    private func pow2(_ n: Int) -> Double { Double(1 << n) }
}
