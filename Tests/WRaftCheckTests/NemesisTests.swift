import Testing
import WRaftClient

import WRaftCheck

@Suite struct NemesisPlannerTests {
    private func planner(_ nemeses: [NemesisKind] = NemesisKind.allCases, nodes: Int = 5, durationMs: Int = 120_000)
        -> NemesisPlanner
    {
        NemesisPlanner(nemeses: nemeses, nodeCount: nodes, durationMs: durationMs, intervalMs: 2_000, faultDurationMs: 1_000...4_000)
    }

    @Test func sameSeedSamePlanOtherSeedOtherPlan() {
        let planner = planner()
        #expect(planner.plan(seed: 7) == planner.plan(seed: 7))
        #expect(planner.plan(seed: 7) != planner.plan(seed: 8))
        // The order the kinds are listed in does not matter.
        let reordered = self.planner(NemesisKind.allCases.reversed())
        #expect(reordered.plan(seed: 7) == planner.plan(seed: 7))
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7])
    func stepsFitTheRunAndDoNotOverlap(seed: UInt64) throws {
        let steps = planner().plan(seed: seed)
        let first = try #require(steps.first)
        #expect(first.startMs >= 2_000)
        for step in steps {
            #expect((1_000...4_000).contains(step.durationMs))
            #expect(step.endMs <= 120_000)
        }
        for (earlier, later) in zip(steps, steps.dropFirst()) {
            #expect(later.startMs == earlier.endMs + 2_000)
        }
    }

    @Test func everyKindComesUpInEachCycle() {
        let steps = planner().plan(seed: 3)
        #expect(steps.count >= 10)
        for cycleStart in stride(from: 0, to: steps.count - 4, by: 5) {
            let kinds = Set(steps[cycleStart..<(cycleStart + 5)].map(\.fault.kind))
            #expect(kinds == Set(NemesisKind.allCases))
        }
    }

    @Test func onlyTheChosenKinds() {
        let steps = planner([.kill, .drop]).plan(seed: 11)
        #expect(!steps.isEmpty)
        #expect(Set(steps.map(\.fault.kind)) == [.kill, .drop])
        #expect(planner([]).plan(seed: 1).isEmpty)
        #expect(planner(durationMs: 2_500).plan(seed: 1).isEmpty)
    }

    /// Kills and pauses hit the leader or a minority, never a majority, so a quorum survives.
    @Test(arguments: [3, 4, 5, 7])
    func targetsAreMinorities(nodes: Int) {
        for seed in UInt64(1)...20 {
            for step in planner(nodes: nodes).plan(seed: seed) {
                switch step.fault {
                case .kill(let target), .pause(let target):
                    if case .nodes(let chosen) = target {
                        #expect(!chosen.isEmpty && chosen.count <= (nodes - 1) / 2, "seed=\(seed)")
                        #expect(Set(chosen).count == chosen.count && chosen.allSatisfy { (0..<nodes).contains($0) })
                    }
                case .partition(.minority(let chosen)):
                    #expect(!chosen.isEmpty && chosen.count <= (nodes - 1) / 2, "seed=\(seed)")
                case .partition(.bridge(let order)):
                    #expect(order.sorted() == Array(0..<nodes))
                case .drop(let rate, let chosen):
                    #expect(rate > 0 && rate < 1 && !chosen.isEmpty)
                case .delay(let ms, let jitterMs, let chosen):
                    #expect(ms > 0 && jitterMs >= 0 && !chosen.isEmpty)
                case .partition(.leaderFromMajority(let fallback)):
                    #expect((0..<nodes).contains(fallback))
                }
            }
        }
    }
}

@Suite struct PartitionTests {
    @Test func leaderCutFromMajority() {
        let isolation = PartitionShape.leaderFromMajority(fallback: 0).isolation(nodeCount: 5, leader: 2)
        #expect(isolation[2] == [0, 1, 3, 4])
        for node in [0, 1, 3, 4] { #expect(isolation[node] == [2]) }
        // No leader known: the fallback node is cut off.
        let fallback = PartitionShape.leaderFromMajority(fallback: 2).isolation(nodeCount: 3, leader: nil)
        #expect(fallback[2] == [0, 1])
        #expect(fallback[0] == [2] && fallback[1] == [2])
    }

    @Test func minorityCutOff() {
        let isolation = PartitionShape.minority([1, 3]).isolation(nodeCount: 5, leader: 0)
        #expect(isolation[1] == [0, 2, 4] && isolation[3] == [0, 2, 4])
        #expect(isolation[0] == [1, 3] && isolation[2] == [1, 3] && isolation[4] == [1, 3])
    }

    @Test func bridgeConnectsTwoHalvesThroughOneNode() {
        let isolation = PartitionShape.bridge(order: [2, 0, 4, 1, 3]).isolation(nodeCount: 5, leader: nil)
        #expect(isolation[2] == nil)  // the bridge sees everyone
        #expect(isolation[0] == [1, 3] && isolation[4] == [1, 3])
        #expect(isolation[1] == [0, 4] && isolation[3] == [0, 4])
        let three = PartitionShape.bridge(order: [1, 0, 2]).isolation(nodeCount: 3, leader: nil)
        #expect(three[0] == [2] && three[2] == [0] && three[1] == nil)
    }

    /// Every partition is symmetric: if a drops b's traffic, b drops a's.
    @Test func partitionsAreSymmetric() {
        let planner = NemesisPlanner(nemeses: [.partition], nodeCount: 5, durationMs: 300_000, intervalMs: 1_000, faultDurationMs: 1_000...2_000)
        for step in planner.plan(seed: 5) {
            guard case .partition(let shape) = step.fault else { continue }
            for leader in [nil, 0, 3] as [Int?] {
                let isolation = shape.isolation(nodeCount: 5, leader: leader)
                for (node, peers) in isolation {
                    #expect(!peers.contains(node))
                    for peer in peers { #expect(isolation[peer]?.contains(node) == true, "\(shape)") }
                }
            }
        }
    }
}
