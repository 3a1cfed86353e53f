import WRaftSupport

/// The simulator's only source of randomness: xoshiro256** seeded through SplitMix64, so one
/// 64-bit seed reproduces a whole run (every fault, every delay, every node's `Config.randomSeed`).
///
/// Numbers in ranges come from WRaftSupport's bounded draw (`next(below:)`, `int(in:)`), not the
/// standard library's `random(in:using:)`, so a seed replays the same run on every Swift version.
public struct SimulationRandom: RandomNumberGenerator, Sendable {
    private var state0: UInt64
    private var state1: UInt64
    private var state2: UInt64
    private var state3: UInt64

    /// A generator whose whole sequence is determined by `seed`.
    public init(seed: UInt64) {
        // SplitMix64 spreads any seed (even 0) over the xoshiro state.
        var seeding = SplitMix64(seed: seed)
        state0 = seeding.next()
        state1 = seeding.next()
        state2 = seeding.next()
        state3 = seeding.next()
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state1 &* 5, by: 7) &* 9
        let shifted = state1 << 17
        state2 ^= state0
        state3 ^= state1
        state1 ^= state2
        state0 ^= state3
        state2 ^= shifted
        state3 = rotateLeft(state3, by: 45)
        return result
    }

    private func rotateLeft(_ value: UInt64, by count: UInt64) -> UInt64 {
        (value << count) | (value >> (64 - count))
    }

    /// A number uniformly drawn from `0 ..< bound` (the shared bounded draw, `next(below:)`).
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "SimulationRandom.below: the bound is positive")
        return Int(next(below: UInt64(bound)))
    }

    /// True with probability `probability` (0 never, 1 always).
    public mutating func chance(_ probability: Double) -> Bool {
        guard probability > 0 else { return false }
        guard probability < 1 else { return true }
        return Double(next() >> 11) * 0x1.0p-53 < probability
    }

    /// A uniformly chosen element, or nil for an empty collection.
    public mutating func element<C: Collection>(of collection: C) -> C.Element? {
        guard !collection.isEmpty else { return nil }
        return collection[collection.index(collection.startIndex, offsetBy: below(collection.count))]
    }

    /// The elements in a random order (Fisher-Yates).
    public mutating func shuffled<T>(_ elements: [T]) -> [T] {
        var result = elements
        var position = result.count - 1
        while position > 0 {
            result.swapAt(position, below(position + 1))
            position -= 1
        }
        return result
    }
}
