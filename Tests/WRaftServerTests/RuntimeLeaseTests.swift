import KVStore
import RaftCore
import Testing

@testable import WRaftServer

/// Issue 12: lease expiry is the leader's alone, on its clock; keep-alives renew it (from any
/// node: followers ask the leader); a new leader gives inherited leases their full TTL again.
/// On a manual clock, so every duration here is the nodes' time, not the machine's.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RuntimeLeaseTests {
    private func withStartedCluster(_ body: (TestCluster, ManualClock) async throws -> Void) async throws {
        let clock = ManualClock()
        let cluster = TestCluster(size: 3, clock: clock)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            try await body(cluster, clock)
        }
    }

    private func grant(_ runtime: NodeRuntime, ttlSeconds: Int64, clock: ManualClock) async throws -> Int64 {
        let result = try await runtime.execute(.leaseGrant(id: 0, ttlSeconds: ttlSeconds), deadline: clock.now + .seconds(60))
        guard case .leaseGranted(let id, ttlSeconds) = result else {
            Issue.record("a grant answers leaseGranted, not \(result)")
            return 0
        }
        return id
    }

    private func exists(_ key: String, on runtime: NodeRuntime, clock: ManualClock) async throws -> Bool {
        try await runtime.read(key: key, consistency: .local, deadline: clock.now + .seconds(60)) != nil
    }

    @Test func leaseIdsAreDrawnByTheProposerAndAppliedAlikeAndAChosenIdIsHonoured() async throws {
        try await withStartedCluster { cluster, clock in
            let leaderPosition = try await cluster.waitForLeader()
            let leader = try cluster.nodes[leaderPosition].runtime
            let follower = try cluster.nodes[(leaderPosition + 1) % 3].runtime
            // Grants without an id, through the leader and through a follower: ids drawn from
            // 1...2^63-1, not the log's sequence (two draws in a row are not neighbours).
            var ids: [Int64] = []
            for runtime in [leader, follower, leader, follower] {
                ids.append(try await grant(runtime, ttlSeconds: 60, clock: clock))
            }
            #expect(ids.allSatisfy { $0 > 0 } && Set(ids).count == ids.count, "\(ids)")
            #expect(zip(ids, ids.dropFirst()).contains { abs($0.distance(to: $1)) > 1_000 }, "\(ids)")
            // Every member applied the same ids (they were in the replicated commands).
            try await TestCluster.waitUntil("every member holds every granted lease") {
                for node in cluster.nodes {
                    for id in ids where try await node.runtime.store.lease(id) == nil { return false }
                }
                return true
            }
            // A client's own id is honoured, and refused while it is in use.
            let chosen: Int64 = 0x1234_5678
            let result = try await follower.execute(.leaseGrant(id: chosen, ttlSeconds: 30), deadline: clock.now + .seconds(60))
            #expect(result == .leaseGranted(id: chosen, ttlSeconds: 30))
            do throws(NodeError) {
                _ = try await leader.execute(.leaseGrant(id: chosen, ttlSeconds: 30), deadline: clock.now + .seconds(60))
                Issue.record("a grant of an id in use is refused")
            } catch {
                guard case .refused(code: .leaseExists, _) = error else {
                    Issue.record("a grant of an id in use is refused with lease_exists, not \(error)")
                    return
                }
            }
        }
    }

    @Test func aDrawnLeaseIdIsPositiveAndUses63Bits() {
        let draws = (0..<64).map { _ in LeaseIDs.draw() }
        #expect(draws.allSatisfy { $0 >= 1 })
        // 64 draws from 1...2^63-1 all below 2^48 would mean a narrow draw (odds 2^-960).
        #expect(draws.contains { $0 > 1 << 48 })
    }

    @Test func aLeaseLapsesOnTheLeadersClockUnlessKeptAliveAndOnlyTheLeaderTimesIt() async throws {
        try await withStartedCluster { cluster, clock in
            let leaderPosition = try await cluster.waitForLeader()
            let leader = try cluster.nodes[leaderPosition].runtime
            let follower = try cluster.nodes[(leaderPosition + 1) % 3].runtime
            let id = try await grant(leader, ttlSeconds: 3, clock: clock)
            _ = try await follower.write(
                WriteRequest(key: "owned", operation: .put(value: [1]), lease: id), deadline: clock.now + .seconds(60))

            try await cluster.advanceWhileLeading(.seconds(2), leader: leaderPosition)
            #expect(try await exists("owned", on: leader, clock: clock))
            // A keep-alive through a follower reaches the leader and renews the full TTL.
            let renewed = try await follower.lease(id, renew: true, deadline: clock.now + .seconds(60))
            #expect(renewed.ttlSeconds == 3 && renewed.remainingMs == 3_000)
            try await cluster.advanceWhileLeading(.seconds(2), leader: leaderPosition)
            #expect(try await exists("owned", on: leader, clock: clock), "2 s after a renewal of 3 s the key is there")
            let status = try await follower.lease(id, renew: false, deadline: clock.now + .seconds(60))
            #expect(status.keys == ["owned"] && status.remainingMs <= 1_000)
            // Followers keep no deadlines at all.
            for node in cluster.nodes where node.index != leaderPosition {
                #expect(try await node.runtime.leaseTimers.deadlines.isEmpty)
            }

            // Left alone, it lapses: the leader revokes it and every member deletes the key.
            try await cluster.advanceWhileLeading(.seconds(2), leader: leaderPosition)
            try await TestCluster.waitUntil("every member deleted the key of the lapsed lease") {
                for node in cluster.nodes where try await exists("owned", on: node.runtime, clock: clock) { return false }
                return true
            }
            #expect(await leader.store.lease(id) == nil)
            await #expect(throws: NodeError.refused(code: .leaseNotFound, message: "lease not found")) {
                _ = try await follower.lease(id, renew: true, deadline: clock.now + .seconds(60))
            }
        }
    }

    /// A keep-alive that reaches the leader after the lease's deadline, before its revoke has
    /// applied, used to renew it and answer success; the revoke already proposed then deleted
    /// the lease anyway. Now it is answered as etcd answers it: "lease not found", once revoked.
    @Test func aKeepAliveAfterTheDeadlineIsAnsweredNotFoundAndTheLeaseStaysRevoked() async throws {
        try await withStartedCluster { cluster, clock in
            let leaderPosition = try await cluster.waitForLeader()
            let leader = try cluster.nodes[leaderPosition].runtime
            let id = try await grant(leader, ttlSeconds: 3, clock: clock)
            _ = try await leader.write(
                WriteRequest(key: "owned", operation: .put(value: [1]), lease: id), deadline: clock.now + .seconds(60))
            // The leader has seen the lease (its deadline is set) ...
            _ = try await leader.lease(id, renew: false, deadline: clock.now + .seconds(60))
            // ... and the whole TTL passes at once: the keep-alive is the first to notice.
            await clock.advance(by: .seconds(3))
            await #expect(throws: NodeError.refused(code: .leaseNotFound, message: "lease not found")) {
                _ = try await leader.lease(id, renew: true, deadline: clock.now + .seconds(60))
            }
            #expect(await leader.store.lease(id) == nil, "answered once the revoke applied")
            // Followers learn the revoke's commit from the next heartbeats.
            try await cluster.advanceWhileLeading(.milliseconds(500), leader: leaderPosition)
            try await TestCluster.waitUntil("every member deleted the key of the lapsed lease") {
                for node in cluster.nodes where try await exists("owned", on: node.runtime, clock: clock) { return false }
                return true
            }
        }
    }

    @Test func aNewLeaderGivesInheritedLeasesTheirFullTTL() async throws {
        try await withStartedCluster { cluster, clock in
            let first = try await cluster.waitForLeader()
            let leader = try cluster.nodes[first].runtime
            let id = try await grant(leader, ttlSeconds: 4, clock: clock)
            _ = try await leader.write(
                WriteRequest(key: "owned", operation: .put(value: [1]), lease: id), deadline: clock.now + .seconds(60))
            try await cluster.advanceWhileLeading(.seconds(3), leader: first)
            // 1 s of the TTL is left on the old leader's clock when it goes.
            await cluster.nodes[first].stop()
            let survivors = cluster.nodes.indices.filter { $0 != first }
            let electedAt = clock.now
            let second = try await cluster.waitForLeader(among: survivors)
            let newLeader = try cluster.nodes[second].runtime
            let status = try await newLeader.lease(id, renew: false, deadline: clock.now + .seconds(60))
            let sinceElection = electedAt.duration(to: clock.now)
            #expect(Duration.milliseconds(status.remainingMs) >= .seconds(4) - sinceElection - .milliseconds(100))
            // Past the old deadline the key is still there.
            try await advance(clock, by: .seconds(2), heartbeatMs: cluster.nodes[0].options.heartbeatMs)
            #expect(try await exists("owned", on: newLeader, clock: clock))
            // Past the new one it goes.
            try await advance(clock, by: .seconds(3), heartbeatMs: cluster.nodes[0].options.heartbeatMs)
            try await TestCluster.waitUntil("the new leader revoked the lease") {
                try await !exists("owned", on: newLeader, clock: clock)
            }
        }
    }

    /// Lets time pass one heartbeat at a time, with a moment of real time for each heartbeat's
    /// messages (with a member stopped, `advanceWhileLeading` does not apply).
    private func advance(_ clock: ManualClock, by duration: Duration, heartbeatMs: Int) async throws {
        var passed = Duration.zero
        while passed < duration {
            await clock.advance(by: .milliseconds(heartbeatMs))
            passed += .milliseconds(heartbeatMs)
            try await Task.sleep(for: .milliseconds(3))
        }
    }

    @Test func leaseTimersStartOverOnANewTermAndForgetEverythingOffTheLead() {
        var timers = LeaseTimers<ContinuousClock.Instant>(revokeRetryInterval: .seconds(2))
        let start = ContinuousClock.now
        let leases: [(id: Int64, ttlSeconds: Int64)] = [(1, 5), (2, 10)]
        #expect(timers.update(leaderTerm: Term(3), leases: leases, now: start).isEmpty)
        #expect(timers.update(leaderTerm: Term(3), leases: leases, now: start + .seconds(5)) == [1])
        // Proposed once; not again until the retry interval passed.
        #expect(timers.update(leaderTerm: Term(3), leases: leases, now: start + .seconds(6)).isEmpty)
        #expect(timers.update(leaderTerm: Term(3), leases: leases, now: start + .seconds(7)) == [1])
        // Past its deadline a keep-alive does not revive it: the revoke stands.
        #expect(timers.keepAlive(1, ttlSeconds: 5, now: start + .seconds(7)) == .expired)
        #expect(timers.remaining(1, now: start + .seconds(7)) == .zero)
        #expect(timers.update(leaderTerm: Term(3), leases: leases, now: start + .seconds(8)).isEmpty)
        #expect(timers.update(leaderTerm: Term(3), leases: leases, now: start + .seconds(9)) == [1])
        // In time, it renews the full TTL.
        #expect(timers.keepAlive(2, ttlSeconds: 10, now: start + .seconds(9)) == .renewed)
        #expect(timers.remaining(2, now: start + .seconds(10)) == .seconds(9))
        // A new term: full TTLs from now.
        #expect(timers.update(leaderTerm: Term(4), leases: leases, now: start + .seconds(10)).isEmpty)
        #expect(timers.remaining(2, now: start + .seconds(10)) == .seconds(10))
        // Not leader: nothing kept, nothing due, keep-alives refused.
        #expect(timers.update(leaderTerm: nil, leases: leases, now: start + .seconds(60)).isEmpty)
        #expect(timers.deadlines.isEmpty && timers.term == nil)
        #expect(timers.keepAlive(1, ttlSeconds: 5, now: start + .seconds(60)) == .notLeader)
        // A revoked lease leaves the timers.
        _ = timers.update(leaderTerm: Term(5), leases: leases, now: start)
        _ = timers.update(leaderTerm: Term(5), leases: [(2, 10)], now: start)
        #expect(timers.remaining(1, now: start) == nil)
    }
}
