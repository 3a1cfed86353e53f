import Foundation

/// A small seeded generator (SplitMix64) so randomized tests replay from their seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// The seeds a randomized test runs: `WRAFT_TEST_SEEDS` of them (default `defaultCount`, sized
/// for CI), starting at `WRAFT_TEST_SEED_START` (default 1). A failure names its seed, and
/// `WRAFT_TEST_SEED_START=S WRAFT_TEST_SEEDS=1` replays it.
func testSeeds(defaultCount: Int) -> [UInt64] {
    let environment = ProcessInfo.processInfo.environment
    let count = environment["WRAFT_TEST_SEEDS"].flatMap { Int($0) } ?? defaultCount
    let start = environment["WRAFT_TEST_SEED_START"].flatMap { UInt64($0) } ?? 1
    return (0..<UInt64(max(count, 0))).map { start + $0 }
}
