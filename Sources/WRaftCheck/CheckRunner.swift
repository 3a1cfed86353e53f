import Foundation
import Linearizability
import WRaftAPI
import WRaftClient
import WRaftLauncher

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `wraft check`: starts a local cluster in a folder, runs concurrent clients and a
/// nemesis for the duration, heals, checks recovery and durability, checks the recorded history
/// for linearizability, writes it to a file and returns the report. `output` receives progress
/// lines as the run goes. Verdicts are in the report (`isPassed`); only a run that could not
/// happen (bad options, a cluster that does not start) throws.
public func runCheck(
    _ options: CheckOptions, output: @escaping @Sendable (String) -> Void
) async throws(CheckError) -> CheckReport {
    try options.validate()
    return try await CheckRun(options: options, output: output).run()
}

/// Checks a history file written by an earlier run (`wraft check --replay FILE`).
public func replay(file path: String, limits: CheckLimits = CheckLimits()) throws(CheckError) -> CheckReport {
    let operations: [HistoryOperation]
    do {
        operations = try HistoryFile.read(from: path)
    } catch {
        throw .historyFile("\(path): \(error)")
    }
    let verdicts = LinearizabilityChecker(limits: limits).check(operations)
    return CheckReport(seed: nil, operations: operations, faults: [], verdicts: verdicts, historyPath: path)
}

/// One run of the check (the `txn-watch` workload's phases: CheckRunner+TxnWatch.swift).
struct CheckRun {
    let options: CheckOptions
    let output: @Sendable (String) -> Void

    /// Process numbers of the operations the runner itself makes after the load.
    static let recoveryProcessBase = 100_000
    private static let durabilityProcessBase = 200_000
    /// The key the recovery check writes (not one of the load's keys).
    private static let recoveryKey = "recovery-check"
    static let progressIntervalMs = 5_000

    func run() async throws(CheckError) -> CheckReport {
        let directory = try makeDirectory()
        output("wraft check: seed \(options.seed), \(options.nodeCount) nodes, \(options.clientCount) clients, "
            + "\(options.keyCount) keys, \(options.durationMs / 1_000) s, nemesis "
            + (options.nemeses.isEmpty ? "none" : options.nemeses.map(\.rawValue).joined(separator: ",")))
        output("cluster folder: \(directory)")
        let cluster: LocalCluster
        do {
            cluster = try await LocalCluster.start(options: clusterOptions(directory: directory))
        } catch {
            throw .cluster(error)
        }
        var report: CheckReport
        do {
            report = try await exercise(cluster, directory: directory)
        } catch {
            await cluster.stopAll()
            throw error
        }
        await cluster.stopAll()
        if report.isPassed && !options.keepsDirectory {
            removeNodeFiles(in: directory)
        } else {
            report.keptDirectory = directory
        }
        return report
    }

    // MARK: Phases

    private func exercise(_ cluster: LocalCluster, directory: String) async throws(CheckError) -> CheckReport {
        if options.workload == .txnWatch { return try await exerciseTxnWatch(cluster, directory: directory) }
        let nodes = await cluster.nodes
        let nodeIDs = nodes.map { $0.id ?? "" }
        let recorder = HistoryRecorder()
        let start = ContinuousClock.now
        let plan = NemesisPlanner(options: options).plan(seed: options.seed)
        let nemesis = NemesisDriver(
            cluster: cluster, nodeIDs: nodeIDs, recorder: recorder, requestTimeoutMs: options.requestTimeoutMs,
            output: output)
        let clients = makeClients(nodes)
        await runLoad(clients: clients, recorder: recorder, nemesis: nemesis, plan: plan, start: start)
        output("load done: \(recorder.count) operations; healing")
        await nemesis.healAll()
        let recovery = await checkRecovery(cluster, clients: clients, recorder: recorder)
        output("recovery: \(recovery.detail)")
        let durability = await checkDurability(cluster, clients: clients, recorder: recorder)
        output("durability: \(durability.detail)")
        for row in clients { for client in row { await client.shutDown() } }
        let operations = recorder.operations
        output("checking \(operations.count) operations for linearizability")
        let verdicts = LinearizabilityChecker(limits: options.checkLimits).check(operations)
        var report = CheckReport(
            seed: options.seed, operations: operations, faults: await nemesis.records, verdicts: verdicts,
            recovery: recovery, durability: durability)
        try writeFiles(&report, directory: directory)
        return report
    }

    /// Clients, the nemesis and the progress line, all until the load's end.
    private func runLoad(
        clients: [[NodeClient]], recorder: HistoryRecorder, nemesis: NemesisDriver, plan: [NemesisStep],
        start: ContinuousClock.Instant
    ) async {
        let end = start + .milliseconds(options.durationMs)
        await withTaskGroup(of: Void.self) { group in
            for process in 0..<options.clientCount {
                group.addTask { await runClient(process, clients: clients[process], recorder: recorder, until: end) }
            }
            group.addTask { await nemesis.run(plan, start: start) }
            group.addTask { await reportProgress(recorder: recorder, nemesis: nemesis, start: start, until: end) }
            await group.waitForAll()
        }
    }

    private func runClient(_ process: Int, clients: [NodeClient], recorder: HistoryRecorder, until end: ContinuousClock.Instant)
        async
    {
        var workload = Workload(process: process, keys: options.keys, nodeCount: clients.count, seed: options.seed)
        while ContinuousClock.now < end && !Task.isCancelled {
            let planned = workload.next()
            let (outcome, readValue) = await perform(planned, client: clients[planned.node], process: process, recorder: recorder)
            workload.observe(planned, outcome: outcome, readValue: readValue)
            let thinkMs = workload.thinkTimeMs(maxMs: options.thinkTimeMsMax)
            if thinkMs > 0 { try? await Task.sleep(for: .milliseconds(thinkMs)) }
        }
    }

    /// Runs one operation and records it; returns its outcome and, for a read, the value seen.
    private func perform(
        _ planned: PlannedOperation, client: NodeClient, process: Int, recorder: HistoryRecorder,
        consistency: ReadConsistency? = nil
    ) async -> (HistoryOperation.Outcome, String?) {
        let id = recorder.invoke(
            process: process, key: planned.key, kind: planned.kind, value: planned.value, expected: planned.expected)
        let timeoutMs = options.requestTimeoutMs
        do {
            switch planned.kind {
            case .read:
                let result = try await client.get(
                    planned.key, consistency: consistency ?? options.readConsistency, timeoutMs: timeoutMs)
                recorder.complete(id, outcome: .ok, readValue: result?.text)
                return (.ok, result?.text)
            case .write:
                try await client.put(planned.key, planned.value ?? "", timeoutMs: timeoutMs)
            case .cas:
                if let expected = planned.expected {
                    try await client.put(planned.key, planned.value ?? "", prevValue: expected, timeoutMs: timeoutMs)
                } else {
                    try await client.put(planned.key, planned.value ?? "", prevIndex: 0, timeoutMs: timeoutMs)
                }
            }
            recorder.complete(id, outcome: .ok)
            return (.ok, nil)
        } catch {
            let outcome = Workload.outcome(of: error, kind: planned.kind)
            recorder.complete(id, outcome: outcome)
            return (outcome, nil)
        }
    }

    private func reportProgress(
        recorder: HistoryRecorder, nemesis: NemesisDriver, start: ContinuousClock.Instant, until end: ContinuousClock.Instant
    ) async {
        var next = start + .milliseconds(Self.progressIntervalMs)
        while next < end && !Task.isCancelled {
            try? await Task.sleep(until: next)
            let operations = recorder.operations
            var byOutcome: [HistoryOperation.Outcome: Int] = [:]
            for operation in operations where operation.completeNs != nil { byOutcome[operation.outcome, default: 0] += 1 }
            let seconds = (ContinuousClock.now - start).components.seconds
            output("\(seconds) s: \(operations.count) ops (ok \(byOutcome[.ok] ?? 0), compare-failed "
                + "\(byOutcome[.compareFailed] ?? 0), failed \(byOutcome[.failed] ?? 0), unknown \(byOutcome[.unknown] ?? 0)); "
                + "faults active \(await nemesis.activeFaultCount)")
            next = next + .milliseconds(Self.progressIntervalMs)
        }
    }

    /// After healing: a leader within the bound, then a write through every node.
    func checkRecovery(_ cluster: LocalCluster, clients: [[NodeClient]], recorder: HistoryRecorder) async
        -> RecoveryResult
    {
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(options.recoveryTimeoutMs)
        let running = Set(await cluster.runningIndexes)
        let exited = clients[0].indices.filter { !running.contains($0) }
        guard exited.isEmpty else {
            // The nemesis restarts what it kills: a node that is gone exited by itself.
            return RecoveryResult(isRecovered: false, afterMs: nil, detail: "nodes \(exited) exited by themselves")
        }
        for node in clients[0].indices {
            let planned = PlannedOperation(key: Self.recoveryKey, kind: .write, value: "recovered-\(node)", node: node)
            guard await retry(until: deadline, { () async -> Bool in
                await perform(planned, client: clients[0][node], process: Self.recoveryProcessBase + node, recorder: recorder).0 == .ok
            }) else {
                return RecoveryResult(
                    isRecovered: false, afterMs: nil,
                    detail: "no write through node \(node) within \(options.recoveryTimeoutMs) ms after healing")
            }
        }
        let afterMs = Int((ContinuousClock.now - start) / .milliseconds(1))
        return RecoveryResult(isRecovered: true, afterMs: afterMs, detail: "writes through every node \(afterMs) ms after healing")
    }

    /// Every node killed at once and restarted on its data dir; then every key read
    /// linearizably through every node. The reads join the history, so the checker also judges
    /// whether the final values agree with everything acknowledged before.
    func checkDurability(_ cluster: LocalCluster, clients: [[NodeClient]], recorder: HistoryRecorder) async
        -> DurabilityResult
    {
        let nodeCount = clients[0].count
        do {
            for index in 0..<nodeCount { try await cluster.kill(index, signal: SIGKILL) }
            for index in 0..<nodeCount { try await cluster.restart(index) }
            _ = try await cluster.waitForLeader(timeoutMs: options.recoveryTimeoutMs)
        } catch {
            return DurabilityResult(isConsistent: false, finalValues: [:], detail: "restart of every node failed: \(error)")
        }
        var finalValues: [String: String?] = [:]
        var problems: [String] = []
        for key in options.keys {
            var seen: [String?] = []
            for node in 0..<nodeCount {
                if let value = await finalRead(key, node: node, client: clients[0][node], recorder: recorder) {
                    seen.append(value)
                } else {
                    problems.append("\(key): no read through node \(node)")
                }
            }
            if Set(seen.map { $0 ?? "\u{0}absent" }).count > 1 {
                problems.append("\(key): nodes disagree: \(seen.map { $0 ?? "absent" })")
            } else if let value = seen.first, seen.count == nodeCount {
                finalValues[key] = value
            }
        }
        let detail = problems.isEmpty
            ? "every node restarted; \(options.keyCount) keys read through all \(nodeCount) nodes agree"
            : problems.joined(separator: "; ")
        return DurabilityResult(isConsistent: problems.isEmpty, finalValues: finalValues, detail: detail)
    }

    /// A linearizable read retried until it succeeds or the bound passes; nil when it never did,
    /// `.some(nil)` when the key is absent.
    private func finalRead(_ key: String, node: Int, client: NodeClient, recorder: HistoryRecorder) async -> String?? {
        let deadline = ContinuousClock.now + .milliseconds(options.recoveryTimeoutMs)
        var value: String?? = nil
        let planned = PlannedOperation(key: key, kind: .read, node: node)
        _ = await retry(until: deadline) { () async -> Bool in
            let (outcome, readValue) = await perform(
                planned, client: client, process: Self.durabilityProcessBase + node, recorder: recorder,
                consistency: .linearizable)
            if outcome == .ok { value = .some(readValue) }
            return outcome == .ok
        }
        return value
    }

    /// Runs `attempt` until it returns true or `deadline` passes, pausing between attempts.
    func retry(until deadline: ContinuousClock.Instant, _ attempt: () async -> Bool) async -> Bool {
        while ContinuousClock.now < deadline && !Task.isCancelled {
            if await attempt() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    // MARK: Files and setup

    func writeFiles(_ report: inout CheckReport, directory: String) throws(CheckError) {
        let historyPath = options.historyPath ?? (directory as NSString).appendingPathComponent("history.jsonl")
        do {
            try HistoryFile.write(report.operations, to: historyPath)
            report.historyPath = historyPath
            let windows = report.verdicts.verdicts.flatMap { entry -> [HistoryOperation] in
                if case .notLinearizable(let window) = entry.verdict { return window.operations }
                return []
            }
            if !windows.isEmpty {
                let windowPath = (historyPath as NSString).deletingPathExtension + "-failing-windows.jsonl"
                try HistoryFile.write(windows, to: windowPath)
                report.failureWindowPath = windowPath
            }
        } catch {
            throw .historyFile("\(historyPath): \(error)")
        }
    }

    func makeClients(_ nodes: [LocalCluster.Node]) -> [[NodeClient]] {
        // One connection per client and node: a client runs one operation at a time.
        (0..<options.clientCount).map { _ in
            nodes.map { node in
                NodeClient(
                    address: node.httpAddress, connectionsMax: 1,
                    requestTimeoutMs: options.requestTimeoutMs + NodeClient.serverDeadlineMarginMs)
            }
        }
    }

    private func clusterOptions(directory: String) -> LocalCluster.Options {
        var clusterOptions = LocalCluster.Options(
            executablePath: options.executablePath, nodeCount: options.nodeCount, directory: directory)
        clusterOptions.enableFaults = true
        clusterOptions.connectOrderSeed = options.seed
        clusterOptions.electionTimeoutMs = options.electionTimeoutMs
        clusterOptions.heartbeatMs = options.heartbeatMs
        clusterOptions.isPeerTLSEnabled = options.isPeerTLSEnabled
        clusterOptions.logLevel = "info"
        return clusterOptions
    }

    private func makeDirectory() throws(CheckError) -> String {
        let path =
            options.directory
            ?? (NSTemporaryDirectory() as NSString).appendingPathComponent(
                "wraft-check-\(options.seed)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .invalidOptions("cannot create \(path): \(error)")
        }
        return path
    }

    /// Removes the nodes' data dirs, logs and certificates, keeping the history files.
    private func removeNodeFiles(in directory: String) {
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in contents where name.hasPrefix("node-") || name == "certs" {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }
}
