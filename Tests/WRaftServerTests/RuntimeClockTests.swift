import RaftCore
import Synchronization
import Testing

@testable import WRaftServer

/// Timing facts of the runtime, on a manual clock: time passes only when the test says so.
@Suite struct RuntimeClockTests {
    // MARK: The manual clock itself

    @Test func advanceWakesSleepersInDeadlineOrderAndOnlyThoseDue() async throws {
        // These sleepers do not sleep again: a short settle keeps the test fast.
        let clock = ManualClock(settleTimeout: .milliseconds(50))
        let start = clock.now
        let woken = WakeLog()
        var sleepers: [Task<Void, any Error>] = []
        for offset in [30, 10, 20, 50] {
            sleepers.append(Task {
                try await clock.sleep(until: start + .milliseconds(offset))
                woken.append(offset)
            })
        }
        try await TestCluster.waitUntil("four sleepers registered") { clock.sleeperCount == 4 }
        await clock.advance(by: .milliseconds(30))
        for task in sleepers.prefix(3) { try await task.value }
        #expect(woken.values == [10, 20, 30], "the three due woke, earliest first")
        #expect(clock.sleeperCount == 1, "the one due at 50 ms still sleeps")
        #expect(clock.now == start + .milliseconds(30))
        sleepers[3].cancel()
        await #expect(throws: CancellationError.self) { try await sleepers[3].value }
        #expect(clock.sleeperCount == 0, "a cancelled sleeper leaves the clock")
    }

    @Test func aLoopThatSleepsAgainRunsOncePerIntervalOfAnAdvance() async throws {
        let clock = ManualClock()
        let ticks = WakeLog()
        let loop = Task {
            var next = clock.now
            for count in 1... {
                next = next + .milliseconds(5)
                try await clock.sleep(until: next)
                ticks.append(count)
            }
        }
        try await TestCluster.waitUntil("the loop sleeps") { clock.sleeperCount == 1 }
        await clock.advance(by: .milliseconds(100))
        #expect(ticks.values.count == 20, "100 ms of 5 ms ticks, none skipped or bunched")
        loop.cancel()
    }

    // MARK: The runtime on the manual clock

    /// Runs `body` on a three-node cluster on a manual clock, formed and started (no time has
    /// passed yet), and stops the nodes after it.
    private func withStartedCluster(_ body: (TestCluster, ManualClock) async throws -> Void) async throws {
        let clock = ManualClock()
        let cluster = TestCluster(size: 3, clock: clock)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            try await body(cluster, clock)
        }
    }

    @Test func noElectionHappensBeforeAnElectionTimeoutAndOneDoesAfter() async throws {
        try await withStartedCluster { cluster, clock in
            let options = cluster.nodes[0].options
            // Just short of the shortest election timeout: no node may campaign, however long
            // the test then waits in real time.
            await clock.advance(by: .milliseconds(options.electionTimeoutMs - options.tickMs))
            try await Task.sleep(for: .milliseconds(100))
            for node in cluster.nodes {
                let state = try await node.runtime.state()
                #expect(state.role == "follower", "node \(node.index) campaigned before its election timeout")
                #expect(state.term == 1 || state.term == 0, "node \(node.index) is at term \(state.term)")
            }
            // A leader within ten election timeouts of the clock (waitForLeader ticks it).
            let started = clock.now
            _ = try await cluster.waitForLeader()
            #expect(started.duration(to: clock.now) <= options.longestElectionTimeouts(10))
        }
    }

    @Test func aHeardLeaderKeepsItsTermOverTenElectionTimeouts() async throws {
        try await withStartedCluster { cluster, clock in
            let leader = try await cluster.waitForLeader()
            let term = try await cluster.nodes[leader].runtime.state().term
            try await cluster.advanceWhileLeading(cluster.nodes[0].options.longestElectionTimeouts(10), leader: leader)
            for node in cluster.nodes {
                #expect(try await node.runtime.state().term == term, "node \(node.index) left term \(term)")
            }
            #expect(try await cluster.waitForLeader() == leader)
        }
    }

    @Test func aWriteExpiresAtItsDeadlineOnTheNodesClock() async throws {
        try await withStartedCluster { cluster, clock in
            let leader = try await cluster.waitForLeader()
            // The followers are gone: the write cannot commit and waits for its deadline.
            for node in cluster.nodes where node.index != leader { await node.stop() }
            let runtime = try cluster.nodes[leader].runtime
            let due = clock.now + .seconds(2)
            let write = Task {
                try await runtime.write(
                    WriteRequest(key: "k", operation: .put(value: [1]), condition: .none), deadline: due)
            }
            try await TestCluster.waitUntil("the write is pending") { await runtime.pendingWriteCount == 1 }
            await clock.advance(by: .seconds(1))
            try await Task.sleep(for: .milliseconds(50))
            #expect(await runtime.pendingWriteCount == 1, "half of the deadline passed: still pending")
            // Expiry is checked every fifth tick: the deadline plus that much.
            await clock.advance(by: .seconds(1) + .milliseconds(cluster.nodes[0].options.tickMs * 5))
            await #expect(throws: NodeError.self) { _ = try await write.value }
        }
    }
}

extension NodeRuntime {
    /// Writes waiting for their outcome.
    fileprivate var pendingWriteCount: Int { proposals.count }
}

/// What woke, in order (shared between test tasks).
private final class WakeLog: Sendable {
    private let log = Mutex<[Int]>([])
    func append(_ value: Int) { log.withLock { $0.append(value) } }
    var values: [Int] { log.withLock { $0 } }
}
