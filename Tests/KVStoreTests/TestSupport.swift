import Foundation
import WRaftSupport

/// The seeds a randomized test runs: `WRAFT_TEST_SEEDS` of them (default `defaultCount`, sized
/// for CI), starting at `WRAFT_TEST_SEED_START` (default 1). A failure names its seed, and
/// `WRAFT_TEST_SEED_START=S WRAFT_TEST_SEEDS=1` replays it.
func testSeeds(defaultCount: Int) -> [UInt64] {
    let environment = ProcessInfo.processInfo.environment
    let count = environment["WRAFT_TEST_SEEDS"].flatMap { Int($0) } ?? defaultCount
    let start = environment["WRAFT_TEST_SEED_START"].flatMap { UInt64($0) } ?? 1
    return (0..<UInt64(max(count, 0))).map { start + $0 }
}
