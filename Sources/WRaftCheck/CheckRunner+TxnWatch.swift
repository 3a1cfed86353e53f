import Foundation
import Linearizability
import WRaftAPI
import WRaftClient
import WRaftLauncher

// `wraft check --workload txn-watch` (issue 12): compare-and-swap transactions and watchers
// through the nemesis, then recovery, the watchers catching up, durability, and
// `TxnWatchChecker` on what was recorded.
extension CheckRun {
    func exerciseTxnWatch(_ cluster: LocalCluster, directory: String) async throws(CheckError) -> CheckReport {
        let nodes = await cluster.nodes
        let nodeIDs = nodes.map { $0.id ?? "" }
        let start = ContinuousClock.now
        let recorder = HistoryRecorder(start: start)
        let transactions = CASRecorder(start: start)
        let plan = NemesisPlanner(options: options).plan(seed: options.seed)
        let nemesis = NemesisDriver(
            cluster: cluster, nodeIDs: nodeIDs, recorder: recorder, requestTimeoutMs: options.requestTimeoutMs,
            output: output)
        let clients = makeClients(nodes)
        // The watchers follow from the revision after the cluster's before the load.
        let startRevision = await currentRevision(clients[0]) ?? 0
        let followers = (0..<options.watcherCount).map {
            WatchFollower(
                watcher: $0, nodes: nodes.map(\.httpAddress), prefix: TxnWatchWorkload.prefix, fromRevision: startRevision + 1)
        }
        // The lease part: its own watchers (recording when each event arrived) on its own prefix.
        let leaseWorkload = LeaseWorkload(nodes: nodes.map(\.httpAddress), start: start, requestTimeoutMs: options.requestTimeoutMs)
        let leaseFollowers = (0..<options.watcherCount).map {
            WatchFollower(
                watcher: $0, nodes: nodes.map(\.httpAddress), prefix: LeaseWorkload.prefix, fromRevision: startRevision + 1,
                clockStart: start)
        }
        var presentAtEnd: [String: Bool] = [:]
        var recovery = RecoveryResult(isRecovered: false, afterMs: nil, detail: "not reached")
        var finalRevision: UInt64?
        await withTaskGroup(of: Void.self) { group in
            for follower in followers + leaseFollowers {
                group.addTask { await follower.run(firstNode: follower.watcher) }
            }
            let kept = await leaseWorkload.grantKept(until: .now + .milliseconds(options.recoveryTimeoutMs))
            output("leases: \(kept.count) kept (TTL \(LeaseWorkload.keptTTLSeconds) s) granted")
            for index in kept { group.addTask { await leaseWorkload.keep(index) } }
            group.addTask { await leaseWorkload.grantLapsing(until: start + .milliseconds(options.durationMs)) }
            await runTransactions(clients: clients, recorder: transactions, nemesis: nemesis, plan: plan, start: start)
            output("load done: \(transactions.count) transactions; healing")
            await nemesis.healAll()
            recovery = await checkRecovery(cluster, clients: clients, recorder: recorder)
            output("recovery: \(recovery.detail)")
            finalRevision = await currentRevision(clients[0])
            if let finalRevision {
                let caughtUp = await retry(until: .now + .milliseconds(options.recoveryTimeoutMs)) { () async -> Bool in
                    followers.allSatisfy { $0.seenThrough >= finalRevision }
                }
                output("watchers: " + (caughtUp ? "every watcher saw through revision \(finalRevision)"
                    : "not every watcher reached revision \(finalRevision): \(followers.map(\.seenThrough))"))
            }
            // The last lapsing leases get the time the checker allows them, then every lease
            // watcher catches up and the keys are read while the keepers still renew.
            let bounds = LeaseBounds()
            let faults = await nemesis.records
            let lapseBy = leaseWorkload.leases.filter { $0.kind == .lapsing }
                .map { LeaseChecker.latestExpiry($0, faults: faults, bounds: bounds) }.max() ?? 0
            // (At most the recovery bound from now: a fault never healed allows any delay.)
            let capNs = UInt64(clamping: (ContinuousClock.now - start).inNanoseconds) + UInt64(options.recoveryTimeoutMs) * 1_000_000
            let waitUntil = start + .nanoseconds(Int64(clamping: min(lapseBy, capNs)))
            let lapsingKeys = Set(leaseWorkload.leases.filter { $0.kind == .lapsing }.map(\.key))
            _ = await retry(until: waitUntil) { () async -> Bool in
                let deleted = Set(LeaseWorkload.deletes(leaseFollowers.map(\.log)).map(\.key))
                return lapsingKeys.isSubset(of: deleted)
            }
            if let leaseRevision = await currentRevision(clients[0]) {
                _ = await retry(until: .now + .milliseconds(options.recoveryTimeoutMs)) { () async -> Bool in
                    leaseFollowers.allSatisfy { $0.seenThrough >= leaseRevision }
                }
            }
            presentAtEnd = await leaseWorkload.readKeys(until: .now + .milliseconds(options.recoveryTimeoutMs))
            leaseWorkload.stopKeepers()
            for follower in followers + leaseFollowers { follower.stop() }
            await group.waitForAll()
        }
        await leaseWorkload.shutDown()
        let durability = await checkDurability(cluster, clients: clients, recorder: recorder)
        output("durability: \(durability.detail)")
        for row in clients { for client in row { await client.shutDown() } }

        let operations = transactions.operations
        output("checking \(operations.count) transactions and \(followers.count) watchers")
        var verdict = TxnWatchChecker.check(
            operations: operations, watchers: followers.map(\.log), finalRevision: finalRevision)
        if finalRevision == nil { verdict.problems.append("the cluster's final revision could not be read") }
        verdict.problems += finalValueProblems(durability, watchers: followers.map(\.log))
        // The register checker judges only the runner's own recovery writes here (the reads of
        // the durability check are judged against the event stream above).
        let txnKeys = Set(options.keys)
        let registerOperations = recorder.operations.filter { !txnKeys.contains($0.key) }
        let verdicts = LinearizabilityChecker(limits: options.checkLimits).check(registerOperations)
        var report = CheckReport(
            seed: options.seed, operations: registerOperations, faults: await nemesis.records, verdicts: verdicts,
            recovery: recovery, durability: durability)
        report.txnWatch = verdict
        var leaseVerdict = LeaseChecker.check(
            leases: leaseWorkload.leases, deletes: LeaseWorkload.deletes(leaseFollowers.map(\.log)), presentAtEnd: presentAtEnd,
            faults: report.faults)
        leaseVerdict.problems += leaseFollowers.compactMap { follower in
            follower.log.failure.map { "lease watcher \(follower.watcher): \($0)" }
        }
        report.lease = leaseVerdict
        try writeFiles(&report, directory: directory)
        return report
    }

    /// The clients' transactions and the nemesis until the load's end.
    private func runTransactions(
        clients: [[NodeClient]], recorder: CASRecorder, nemesis: NemesisDriver, plan: [NemesisStep],
        start: ContinuousClock.Instant
    ) async {
        let end = start + .milliseconds(options.durationMs)
        let keys = options.keys
        await withTaskGroup(of: Void.self) { group in
            for process in 0..<options.clientCount {
                group.addTask {
                    var workload = TxnWatchWorkload(process: process, keys: keys, nodeCount: clients[process].count, seed: options.seed)
                    while ContinuousClock.now < end && !Task.isCancelled {
                        let planned = workload.next()
                        let seen = await TxnWatchWorkload.perform(
                            planned, process: process, client: clients[process][planned.node], recorder: recorder,
                            timeoutMs: options.requestTimeoutMs)
                        if let seen { workload.observe(key: planned.key, modRevision: seen) }
                        if options.thinkTimeMsMax > 0 {
                            try? await Task.sleep(for: .milliseconds(Int.random(in: 0...options.thinkTimeMsMax)))
                        }
                    }
                }
            }
            group.addTask { await nemesis.run(plan, start: start) }
            group.addTask {
                var next = start + .milliseconds(Self.progressIntervalMs)
                while next < end && !Task.isCancelled {
                    try? await Task.sleep(until: next)
                    let operations = recorder.operations
                    let done = operations.filter { $0.completeNs != nil }
                    let ok = done.filter { $0.outcome == .ok }.count
                    let failedCompare = done.filter { $0.outcome == .compareFailed }.count
                    output("\((ContinuousClock.now - start).components.seconds) s: \(operations.count) transactions "
                        + "(ok \(ok), compare-failed \(failedCompare), other \(done.count - ok - failedCompare)); "
                        + "faults active \(await nemesis.activeFaultCount)")
                    next = next + .milliseconds(Self.progressIntervalMs)
                }
            }
            await group.waitForAll()
        }
    }

    /// The cluster's revision now: an empty transaction through any node, retried.
    private func currentRevision(_ clients: [NodeClient]) async -> UInt64? {
        var revision: UInt64?
        _ = await retry(until: .now + .milliseconds(options.recoveryTimeoutMs)) { () async -> Bool in
            for client in clients {
                if let view = try? await client.txn(TxnBody(), timeoutMs: options.requestTimeoutMs) {
                    revision = view.revision
                    return true
                }
            }
            return false
        }
        return revision
    }

    /// The durability check's final values against the event stream: each key holds what its
    /// last event left (absent after a delete or no event).
    private func finalValueProblems(_ durability: DurabilityResult, watchers: [WatcherLog]) -> [String] {
        var last: [String: WatchedEvent] = [:]
        for log in watchers {
            for event in log.events where last[event.key].map({ $0.revision < event.revision }) ?? true {
                last[event.key] = event
            }
        }
        var problems: [String] = []
        for key in options.keys {
            guard let final = durability.finalValues[key] else { continue }  // Not read: durability reports it.
            let expected: String? = last[key].flatMap { $0.isPut ? $0.value : nil }
            if final != expected {
                problems.append("\(key): every node holds \(final ?? "nothing") after restarting; the event stream ends with \(expected ?? "nothing")")
            }
        }
        return problems
    }
}
