/// A small seeded pseudo-random generator (SplitMix64, Steele, Lea and Flood 2014): the one copy
/// every module draws from when a run must replay from its seed (the core's election jitter,
/// the simulator's seeding, fault injection, workloads, randomized tests). Not for cryptography.
///
/// Its output for a seed is fixed forever (a golden test pins it); together with
/// `RandomNumberGenerator.next(below:)` a seed replays on any Swift version.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The Weyl sequence's position; advanced by `golden` on every draw.
    private var state: UInt64

    // The odd increment of the Weyl sequence: 2^64 divided by the golden ratio.
    private static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// A generator whose whole sequence is determined by `seed` (every seed, 0 included, is fine).
    public init(seed: UInt64) {
        self.state = seed
    }

    /// The next 64 pseudo-random bits.
    public mutating func next() -> UInt64 {
        state &+= Self.golden
        return Self.finalize(state)
    }

    /// The first draw of a generator seeded with `value`: a cheap 64-bit mixing function for
    /// fingerprints and digests (not a cryptographic hash).
    public static func mixed(_ value: UInt64) -> UInt64 {
        finalize(value &+ golden)
    }

    // SplitMix64's output function: two xor-shift-multiply rounds and a final xor-shift.
    private static func finalize(_ value: UInt64) -> UInt64 {
        var bits = value
        bits = (bits ^ (bits >> 30)) &* 0xBF58_476D_1CE4_E5B9
        bits = (bits ^ (bits >> 27)) &* 0x94D0_49BB_1331_11EB
        return bits ^ (bits >> 31)
    }
}
