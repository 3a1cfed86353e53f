/// Draws in a range, by an algorithm written here rather than the standard library's
/// `random(in:using:)`, whose algorithm is not promised to stay the same across Swift versions:
/// with a `SplitMix64`, a seed gives the same numbers on every toolchain.
extension RandomNumberGenerator {
    /// A number uniformly drawn from `0 ..< bound`.
    ///
    /// Lemire's multiply-shift ("Fast random integer generation in an interval", 2019): the high
    /// word of `random * bound` is the draw; a low word below `2^64 mod bound` marks one of the
    /// few products that would bias the result, and is drawn again. Uses one draw of `next()`
    /// except with probability below `bound / 2^64`.
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "next(below:): the bound is positive")
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            // 2^64 mod bound, computed in 64 bits as (2^64 - bound) mod bound.
            let rejectedBelow = (0 &- bound) % bound
            while product.low < rejectedBelow {
                product = next().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }

    /// A number uniformly drawn from the non-empty `range`.
    public mutating func int(in range: Range<Int>) -> Int {
        precondition(!range.isEmpty, "int(in:): the range is not empty")
        let width = UInt64(bitPattern: Int64(range.upperBound &- range.lowerBound))
        return range.lowerBound &+ Int(truncatingIfNeeded: next(below: width))
    }

    /// A number uniformly drawn from `range`.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let width = UInt64(bitPattern: Int64(range.upperBound &- range.lowerBound))
        // The full range of Int has 2^64 members: every 64-bit draw is one of them.
        guard width < UInt64.max else { return Int(truncatingIfNeeded: next()) }
        return range.lowerBound &+ Int(truncatingIfNeeded: next(below: width + 1))
    }
}
