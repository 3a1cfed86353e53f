/// A `Duration` as a plain number, for metrics, JSON fields, NIO deadlines and benchmarks: the
/// conversions written once, truncating toward zero and saturating at `Int64`'s bounds instead of
/// trapping (a duration from outside, such as a deadline far in the future, is hostile input).
extension Duration {
    /// Whole nanoseconds, truncated toward zero; `Int64.min` or `Int64.max` when out of range.
    public var inNanoseconds: Int64 {
        whole(unitsPerSecond: 1_000_000_000, attosecondsPerUnit: 1_000_000_000)
    }

    /// Whole milliseconds, truncated toward zero; `Int64.min` or `Int64.max` when out of range.
    public var inMilliseconds: Int64 {
        whole(unitsPerSecond: 1_000, attosecondsPerUnit: 1_000_000_000_000_000)
    }

    /// Seconds as a `Double` (exact to well below a nanosecond for any duration a run measures).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }

    /// Milliseconds as a `Double`, fractions kept.
    public var inFractionalMilliseconds: Double {
        Double(components.seconds) * 1e3 + Double(components.attoseconds) * 1e-15
    }

    // seconds * unitsPerSecond + attoseconds / attosecondsPerUnit, saturating. The two
    // components share a sign (or one is zero), so the sum overflows only in that direction.
    private func whole(unitsPerSecond: Int64, attosecondsPerUnit: Int64) -> Int64 {
        let (seconds, attoseconds) = components
        let bound: Int64 = seconds < 0 || attoseconds < 0 ? .min : .max
        let (scaled, isOverflow) = seconds.multipliedReportingOverflow(by: unitsPerSecond)
        guard !isOverflow else { return bound }
        let (total, isSumOverflow) = scaled.addingReportingOverflow(attoseconds / attosecondsPerUnit)
        return isSumOverflow ? bound : total
    }
}
