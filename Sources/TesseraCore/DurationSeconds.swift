extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// A duration of `seconds` that never traps, for values computed from measurements or from
    /// outside: NaN and negatives give zero, anything past `limit` (infinity included) gives `limit`.
    /// (`Duration.seconds(_: Double)` traps on NaN, on infinity and past about 1.7e20 s.)
    public static func seconds(clamping seconds: Double, to limit: Duration = .seconds(86_400)) -> Duration {
        guard !seconds.isNaN, seconds > 0 else { return .zero }
        return seconds >= limit.seconds ? limit : .seconds(seconds)
    }
}
