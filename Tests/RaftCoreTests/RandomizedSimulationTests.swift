import RaftCore
import RaftSimulation
import Testing

/// Reads a positive integer from the environment.
func environmentInteger(_ name: String) -> UInt64? {
    guard let raw = getEnvironmentValue(name) else { return nil }
    return UInt64(raw)
}

/// The randomized runs: `WRAFT_SIM_SEEDS` distinct seeds (CI default below) from
/// `WRAFT_SIM_FIRST_SEED` (default 1), or one seed
/// replayed with its whole trace printed when `WRAFT_SIM_SEED=N` is set. Each failing seed
/// prints `seed=N` and the end of its trace.
@Suite struct RandomizedSimulationTests {
    /// Sized so the whole RaftCoreTests target stays within a few minutes of a debug build on a
    /// 2-core machine.
    static let defaultSeedCount: UInt64 = 1_000
    /// Distinct from the seeds other suites use.
    static let firstSeed: UInt64 = 1

    /// The seeds are split over this many test cases, which Swift Testing runs in parallel.
    static let shardCount = 2

    @Test(arguments: 0..<shardCount)
    func randomizedRunsKeepRaftSafeAndLive(shard: Int) {
        if let seed = environmentInteger("WRAFT_SIM_SEED") {
            guard shard == 0 else { return }
            var run = RandomizedRun(seed: seed)
            run.liveTrace = { line in print(line) }
            let result = run.run()
            #expect(result.isSafe, "seed=\(seed)\n\(result.violations.map(\.description).joined(separator: "\n"))")
            return
        }
        let count = environmentInteger("WRAFT_SIM_SEEDS") ?? Self.defaultSeedCount
        let first = environmentInteger("WRAFT_SIM_FIRST_SEED") ?? Self.firstSeed
        var failures: [RandomizedRunResult] = []
        var committed: UInt64 = 0
        var crashes = 0
        var leaderTerms = 0
        var discardedSnapshots = 0
        var writes = ClientWriteCounts()
        var seedsRun: UInt64 = 0
        for seed in first..<(first + count) where Int(seed % UInt64(Self.shardCount)) == shard {
            CrashReporter.setSeed(seed, slot: shard, label: "randomized simulation (replay: WRAFT_SIM_SEED=\(seed))")
            let result = RandomizedRun(seed: seed).run()
            seedsRun += 1
            committed += result.committedIndex.rawValue
            crashes += result.crashCount
            leaderTerms += result.leaderTerms
            discardedSnapshots += result.discardedSnapshots
            writes.add(result.clientWrites)
            if !result.isSafe {
                failures.append(result)
                if failures.count >= 3 { break }
            }
        }
        CrashReporter.setSeed(nil, slot: shard, label: "")
        print("randomized simulation, shard \(shard): \(seedsRun) seeds, \(committed) entries committed, \(leaderTerms) leader terms, \(crashes) crashes, \(discardedSnapshots) own snapshots discarded for a newer one, client writes: \(writes.summary), \(failures.count) failing")
        for failure in failures {
            Issue.record("seed=\(failure.seed)\n\(failure.report)")
        }
        #expect(committed > seedsRun * 10, "the runs did make progress")
        if count >= Self.defaultSeedCount {
            // About 130 in 1,000 seeds: the race of issue 9's bug 2 is reached, not just allowed.
            #expect(discardedSnapshots > 0, "some node's own snapshot was overtaken by a newer one from its leader")
            // Issue 9's bug 1 needs a leader without room for a re-proposed batch: reached, not just allowed.
            #expect(writes.overloadedRefusals > 0 && writes.notApplied > 0 && writes.unknown > 0 && writes.applied > 0)
        }
    }

    /// The seeds `aBrokenProposalRuleIsCaughtBySeeds` runs (`WRAFT_SIM_BROKEN_SEEDS` runs more).
    static var brokenRuleSeeds: ClosedRange<UInt64> { 1...(environmentInteger("WRAFT_SIM_BROKEN_SEEDS") ?? 50) }

    /// Seeds of the `.leaderChurn` profile (Figure 8 pressure); `WRAFT_SIM_CHURN_SEEDS` runs
    /// more, `WRAFT_SIM_CHURN_SEED=N` replays one with its whole trace.
    static let defaultChurnSeedCount: UInt64 = 150

    @Test func leaderChurnRunsKeepRaftSafeAndLive() {
        if let seed = environmentInteger("WRAFT_SIM_CHURN_SEED") {
            var run = RandomizedRun(seed: seed, profile: .leaderChurn)
            run.liveTrace = { line in print(line) }
            let result = run.run()
            #expect(result.isSafe, "leader-churn seed=\(seed)\n\(result.violations.map(\.description).joined(separator: "\n"))")
            return
        }
        let count = environmentInteger("WRAFT_SIM_CHURN_SEEDS") ?? Self.defaultChurnSeedCount
        var failures: [RandomizedRunResult] = []
        var committed: UInt64 = 0
        for seed in 1...count {
            CrashReporter.setSeed(seed, slot: 2, label: "leader-churn simulation (RandomizedRun(seed:profile: .leaderChurn))")
            let result = RandomizedRun(seed: seed, profile: .leaderChurn).run()
            committed += result.committedIndex.rawValue
            if !result.isSafe {
                failures.append(result)
                if failures.count >= 3 { break }
            }
        }
        CrashReporter.setSeed(nil, slot: 2, label: "")
        print("leader-churn simulation: \(count) seeds, \(committed) entries committed, \(failures.count) failing")
        for failure in failures {
            Issue.record("leader-churn seed=\(failure.seed)\n\(failure.report)")
        }
        #expect(committed > count * 10, "the runs did make progress")
    }

    /// The proposal queue's rule broken on purpose (`ProposalQueue.DeliberateBug`: a batch the
    /// core refuses as overloaded is refused whole, its writes answered "not applied" even when
    /// an earlier copy was handed to a leader, as before issue 9's bug 1 was fixed). The checker
    /// must catch a write answered 503 that is applied; the same seeds pass with the rule kept.
    @Test func aBrokenProposalRuleIsCaughtBySeeds() {
        let seeds = Self.brokenRuleSeeds
        var caught: [UInt64] = []
        for seed in seeds {
            var run = RandomizedRun(seed: seed)
            run.breaksProposalRuleOnPurpose = true
            let result = run.run()
            #expect(result.violations.allSatisfy { $0.property == "ClientOutcome" }, "seed=\(seed): only the broken rule is caught\n\(result.report)")
            if !result.isSafe { caught.append(seed) }
        }
        print("proposal rule broken on purpose: \(caught.count) of \(seeds.count) seeds caught it: \(caught)")
        #expect(!caught.isEmpty, "no seed caught a write answered not applied that was applied")
        for seed in caught {
            #expect(RandomizedRun(seed: seed).run().isSafe, "seed=\(seed) passes with the rule kept")
        }
    }

    @Test func oneSeedReplaysIdentically() {
        for seed: UInt64 in [7, 99, 12_345] {
            let first = RandomizedRun(seed: seed).run()
            let second = RandomizedRun(seed: seed).run()
            #expect(first.fingerprint == second.fingerprint, "seed=\(seed)")
            #expect(first.ticks == second.ticks && first.committedIndex == second.committedIndex, "seed=\(seed)")
        }
    }
}

extension ClientWriteCounts {
    mutating func add(_ other: ClientWriteCounts) {
        overloadedRefusals += other.overloadedRefusals
        applied += other.applied
        notApplied += other.notApplied
        unknown += other.unknown
        lost += other.lost
    }

    var summary: String {
        "\(applied) applied, \(notApplied) not applied (503), \(unknown) unknown (504), \(lost) lost in crashes, \(overloadedRefusals) overloaded refusals"
    }
}
