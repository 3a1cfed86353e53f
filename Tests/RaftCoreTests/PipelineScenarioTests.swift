import RaftCore
import RaftSimulation
import Testing

/// Named simulated scenarios for the Ready pipeline's rules, run through the shipped
/// `ReadyPipeline` with every checker on (`checkPromisesAreDurable` among them).
@Suite struct PipelineScenarioTests {
    /// A follower with a slow disk acknowledges entries of term 2 whose Ready is queued behind
    /// its write in flight; before they are written, a leader of term 3 overwrites them. Each
    /// acknowledgement must leave once its own entries are durable, before the overwrite is:
    /// the overwriting Ready never shares a write with the Readys before it.
    @Test func anAcknowledgementLeavesBeforeTheOverwriteOfItsEntriesIsDurable() throws {
        let sim = makeSimulation(seed: 31, nodes: 5) {
            $0.isPreVoteEnabled = false
            $0.isCheckQuorumEnabled = false
        }
        sim.campaign(id(1))
        #expect(sim.awaitLeader(ticksMax: 200) == id(1))
        let termBefore = try #require(sim.status(of: id(1))?.term)
        let lastBefore = try #require(sim.status(of: id(3))?.lastLogIndex)

        // n1 reaches only n3, whose disk now takes 60 ticks per write.
        sim.setDiskLatency(of: id(3), ticks: 60...60)
        sim.partition([id(1), id(3)], [id(2), id(4), id(5)])
        _ = try sim.propose(at: id(1))
        sim.tick(2)
        _ = try sim.propose(at: id(1))
        sim.tick(2)
        #expect(sim.durableState(of: id(3))?.lastIndex == lastBefore, "n3's writes are still on its disk")

        // n1 is cut off; n2 wins term+1 with n4 and n5 and overwrites n3's suffix.
        sim.heal()
        sim.isolate(id(1))
        sim.campaign(id(2))
        #expect(sim.run(ticksMax: 40) { $0.leader() == id(2) })
        let overwritten = lastBefore.next
        #expect(sim.run(ticksMax: 40) { ($0.log(of: id(3), from: overwritten, limit: 1).first?.term ?? .zero) > termBefore })
        // The situation this scenario is about: the overwrite was handed out while n3's first
        // write (of term-2 entries it acknowledges) is still on its disk.
        #expect(sim.durableState(of: id(3))?.lastIndex == lastBefore)
        // Three writes of 60 ticks each: the first, the acknowledged suffix, the overwrite.
        sim.tick(200)
        #expect((sim.durableState(of: id(3))?.term(at: overwritten) ?? .zero) > termBefore, "the overwrite is durable now")
        expectSafe(sim)
        sim.setDiskLatency(of: id(3), ticks: 0...1)
        #expect(sim.checkLiveness(ticksMax: 2_000))
        expectSafe(sim)
    }

    /// A vote is never sent before it is durable, whatever the disk's speed.
    @Test func aVoteLeavesOnlyOnceItIsDurableOnASlowDisk() throws {
        let sim = makeSimulation(seed: 32, nodes: 3) { $0.isPreVoteEnabled = false }
        for node in sim.nodeIDs { sim.setDiskLatency(of: node, ticks: 5...15) }
        #expect(sim.awaitLeader(ticksMax: 2_000) != nil)
        proposeAcknowledged(sim, count: 10)
        expectSafe(sim)
    }
}
