import Testing

@testable import WRaftCheck

/// `LeaseChecker` on hand-made records: a correct run passes, and a kept lease's key deleted, a
/// lapsing lease expiring early, late or never are caught (the checker must be able to fail).
private let second: UInt64 = 1_000_000_000
private let ms: UInt64 = 1_000_000

@Suite struct LeaseCheckerTests {

    /// A kept lease of TTL 5 s granted at 0.1 s (answered at 0.2 s), renewed every 1.67 s until 20 s.
    static var kept: LeaseRecord {
        var renewals: [LeaseRecord.Renewal] = []
        var sent = 1_800 * ms
        while sent < 20 * second {
            renewals.append(LeaseRecord.Renewal(invokeNs: sent, ackNs: sent + 30 * ms))
            sent += 1_667 * ms
        }
        return LeaseRecord(
            id: 11, kind: .kept, ttlSeconds: 5, key: "tl/kept-0-0", grantInvokeNs: 100 * ms, grantAckNs: 200 * ms,
            renewals: renewals, keptUntilNs: 20 * second)
    }

    /// A lapsing lease of TTL 2 s granted at 3 s (answered at 3.05 s).
    static let lapsing = LeaseRecord(
        id: 12, kind: .lapsing, ttlSeconds: 2, key: "tl/lapse-0", grantInvokeNs: 3 * second, grantAckNs: 3_050 * ms)

    static func check(
        _ leases: [LeaseRecord] = [kept, lapsing], deletes: [LeaseKeyDelete],
        present: [String: Bool] = ["tl/kept-0-0": true, "tl/lapse-0": false], faults: [FaultRecord] = []
    ) -> LeaseVerdict {
        LeaseChecker.check(leases: leases, deletes: deletes, presentAtEnd: present, faults: faults)
    }

    /// The lapsing lease's key deleted 5.3 s into the run (its TTL ends at 5.05 s).
    static let onTime = LeaseKeyDelete(key: "tl/lapse-0", revision: 9, receivedNs: 5_300 * ms)

    @Test func aCorrectRunPasses() {
        let verdict = Self.check(deletes: [Self.onTime])
        #expect(verdict.isPassed, "\(verdict.problems)")
        #expect(verdict.keptCount == 1 && verdict.lapsingCount == 1 && verdict.expiredCount == 1)
        #expect(verdict.latestExpiryAfterTTLMs == 250)
        #expect(verdict.notes.isEmpty, "\(verdict.notes)")
    }

    @Test func aKeptLeasesKeyDeletedFails() {
        let deleted = LeaseKeyDelete(key: "tl/kept-0-0", revision: 7, receivedNs: 8 * second)
        let verdict = Self.check(deletes: [deleted, Self.onTime])
        #expect(!verdict.isPassed)
        #expect(verdict.problems.contains { $0.contains("kept lease 11") && $0.contains("deleted at revision 7") }, "\(verdict.problems)")

        let absent = Self.check(deletes: [Self.onTime], present: ["tl/kept-0-0": false, "tl/lapse-0": false])
        #expect(absent.problems.contains { $0.contains("kept lease 11") && $0.contains("absent at the final read") }, "\(absent.problems)")

        var lost = Self.kept
        lost.lostNs = 9 * second
        let gone = Self.check([lost, Self.lapsing], deletes: [Self.onTime])
        #expect(gone.problems.contains { $0.contains("kept lease 11") && $0.contains("lease is gone") }, "\(gone.problems)")
    }

    @Test func aKeeperThatCouldNotRenewForATTLIsNotedNotFailed() {
        var starved = Self.kept
        // No renewal answered from 5.1 s (the last one sent) to 13.5 s (every node unreachable, say).
        starved.renewals.removeAll { $0.invokeNs > 6 * second && $0.invokeNs < 12 * second }
        let deleted = LeaseKeyDelete(key: "tl/kept-0-0", revision: 7, receivedNs: 12 * second)
        let verdict = Self.check([starved, Self.lapsing], deletes: [deleted, Self.onTime])
        #expect(verdict.isPassed, "\(verdict.problems)")
        #expect(verdict.notes.contains { $0.contains("kept lease 11") && $0.contains("without a renewal") && $0.contains("deleted") }, "\(verdict.notes)")
    }

    @Test func aLapsingLeaseThatExpiresEarlyFails() {
        // TTL 2 s from a grant sent at 3 s: a delete received at 4.5 s is early.
        let early = LeaseKeyDelete(key: "tl/lapse-0", revision: 9, receivedNs: 4_500 * ms)
        let verdict = Self.check(deletes: [early])
        #expect(!verdict.isPassed)
        #expect(verdict.problems.contains { $0.contains("lapsing lease 12") && $0.contains("expired early") }, "\(verdict.problems)")
    }

    @Test func aLapsingLeaseThatNeverExpiresFails() {
        let verdict = Self.check(deletes: [], present: ["tl/kept-0-0": true, "tl/lapse-0": true])
        #expect(!verdict.isPassed)
        #expect(verdict.problems.contains { $0.contains("lapsing lease 12") && $0.contains("never seen deleted") && $0.contains("still present") }, "\(verdict.problems)")
    }

    @Test func aLapsingLeaseThatExpiresLateFailsUnlessAFaultExplainsIt() {
        // Without faults: TTL ends 5.05 s, plus 1 s of delivery slack; 7 s is late.
        let late = LeaseKeyDelete(key: "tl/lapse-0", revision: 9, receivedNs: 7 * second)
        let verdict = Self.check(deletes: [late])
        #expect(verdict.problems.contains { $0.contains("lapsing lease 12") && $0.contains("expired late") }, "\(verdict.problems)")

        // A leader partitioned from 4 s to 6 s: a new leader may restart the TTL after the
        // election that follows, so 7 s (and up to 6 + 1 + 2 + 1 + 3 = 13 s) is allowed.
        let partition = FaultRecord(startNs: 4 * second, endNs: 6 * second, description: "partition: leader cut from the majority")
        let explained = Self.check(deletes: [late], faults: [partition])
        #expect(explained.isPassed, "\(explained.problems)")
        let tooLate = LeaseKeyDelete(key: "tl/lapse-0", revision: 9, receivedNs: 13_500 * ms)
        let stillLate = Self.check(deletes: [tooLate], faults: [partition])
        #expect(stillLate.problems.contains { $0.contains("expired late") }, "\(stillLate.problems)")

        // A fault that ended well before the grant does not move the bound.
        let old = FaultRecord(startNs: 0, endNs: 1 * second, description: "kill -9 the leader")
        #expect(!Self.check(deletes: [late], faults: [old]).isPassed)
    }

    @Test func theLatestDeleteEventIsTheWatchersEarliestReceipt() {
        let first = WatcherLog(
            watcher: 0, fromRevision: 1, events: [WatchedEvent(revision: 9, key: "tl/lapse-0", isPut: false, value: "")], seenThrough: 9)
        var withTimes = first
        withTimes.receivedNs = [6 * second]
        var other = first
        other.watcher = 1
        other.receivedNs = [5 * second]
        var untimed = first
        untimed.watcher = 2
        #expect(LeaseWorkload.deletes([withTimes, other, untimed]) == [LeaseKeyDelete(key: "tl/lapse-0", revision: 9, receivedNs: 5 * second)])
    }
}
