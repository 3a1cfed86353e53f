import Foundation
import WRaftClient
import WRaftLauncher

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Carries out a nemesis schedule against a local cluster, remembering what it broke so that
/// every fault is undone: killed nodes are restarted on their data dirs, stopped ones continued,
/// and `/op/heal` clears the network faults.
actor NemesisDriver {
    private let cluster: LocalCluster
    private let nodeIDs: [String]
    private let recorder: HistoryRecorder
    private let output: @Sendable (String) -> Void
    /// Bound on each `/op/...` and `/state` request of the nemesis.
    private let requestTimeoutMs: Int
    private var killed: Set<Int> = []
    private var paused: Set<Int> = []
    private var networkFaulted: Set<Int> = []
    private(set) var records: [FaultRecord] = []

    init(
        cluster: LocalCluster, nodeIDs: [String], recorder: HistoryRecorder, requestTimeoutMs: Int,
        output: @escaping @Sendable (String) -> Void
    ) {
        self.cluster = cluster
        self.nodeIDs = nodeIDs
        self.recorder = recorder
        self.requestTimeoutMs = requestTimeoutMs
        self.output = output
    }

    var activeFaultCount: Int { records.filter { $0.endNs == nil }.count }

    /// Runs `plan` (times relative to `start`); returns early when the task is cancelled.
    func run(_ plan: [NemesisStep], start: ContinuousClock.Instant) async {
        for step in plan {
            await sleep(until: start + .milliseconds(step.startMs))
            if Task.isCancelled { return }
            let recordIndex = records.count
            let description = await inject(step.fault)
            records.append(FaultRecord(startNs: recorder.nowNs, endNs: nil, description: description))
            output("nemesis: \(description)")
            await sleep(until: start + .milliseconds(step.endMs))
            await heal(step.fault)
            records[recordIndex].endNs = recorder.nowNs
            output("nemesis: healed (\(description))")
        }
    }

    /// Undoes every fault still in force, whatever it was.
    func healAll() async {
        for index in paused.sorted() { await signal(index, SIGCONT) }
        paused = []
        for index in killed.sorted() { await restart(index) }
        killed = []
        for index in nodeIDs.indices { await send(.heal, to: index) }
        networkFaulted = []
    }

    // MARK: Injecting

    private func inject(_ fault: NemesisFault) async -> String {
        switch fault {
        case .kill(let target):
            let nodes = await resolve(target)
            for index in nodes {
                do {
                    try await cluster.kill(index, signal: SIGKILL)
                    killed.insert(index)
                } catch {
                    output("nemesis: kill node \(index) failed: \(error)")
                }
            }
            return "kill -9 \(target) (nodes \(Self.list(nodes)))"
        case .pause(let target):
            let nodes = await resolve(target)
            for index in nodes {
                await signal(index, SIGSTOP)
                paused.insert(index)
            }
            return "SIGSTOP \(target) (nodes \(Self.list(nodes)))"
        case .partition(let shape):
            let leader = await findLeader()
            let isolation = shape.isolation(nodeCount: nodeIDs.count, leader: leader)
            for (index, peers) in isolation.sorted(by: { $0.key < $1.key }) {
                await send(.isolate(peers: peers.sorted().map { nodeIDs[$0] }), to: index)
                networkFaulted.insert(index)
            }
            return "partition: \(shape)" + (leader.map { " (leader was node \($0))" } ?? "")
        case .drop(let rate, let nodes):
            for index in nodes {
                await send(.drop(rate: rate), to: index)
                networkFaulted.insert(index)
            }
            return fault.description
        case .delay(let ms, let jitterMs, let nodes):
            for index in nodes {
                await send(.delay(ms: ms, jitterMs: jitterMs), to: index)
                networkFaulted.insert(index)
            }
            return fault.description
        }
    }

    private func heal(_ fault: NemesisFault) async {
        switch fault {
        case .kill:
            for index in killed.sorted() { await restart(index) }
            killed = []
        case .pause:
            for index in paused.sorted() { await signal(index, SIGCONT) }
            paused = []
        case .partition, .drop, .delay:
            for index in networkFaulted.sorted() { await send(.heal, to: index) }
            networkFaulted = []
        }
    }

    // MARK: Helpers

    private func resolve(_ target: NemesisTarget) async -> [Int] {
        switch target {
        case .leader(let fallback): return [await findLeader() ?? fallback]
        case .nodes(let nodes): return nodes
        }
    }

    /// The node every answering node names as leader (asking the reachable, unfrozen ones).
    private func findLeader() async -> Int? {
        for index in nodeIDs.indices where !killed.contains(index) && !paused.contains(index) {
            guard let client = try? await cluster.client(index),
                let state = try? await client.state(timeoutMs: requestTimeoutMs)
            else { continue }
            if state.isLeader { return index }
            if let leaderID = state.leader?.id, let leader = nodeIDs.firstIndex(of: leaderID) { return leader }
        }
        return nil
    }

    private func send(_ fault: Fault, to index: Int) async {
        guard !killed.contains(index), !paused.contains(index) else { return }
        do {
            try await cluster.client(index).inject(fault, timeoutMs: requestTimeoutMs)
        } catch {
            output("nemesis: /op on node \(index) failed: \(error)")
        }
    }

    private func signal(_ index: Int, _ signal: Int32) async {
        do {
            try await cluster.kill(index, signal: signal)
        } catch {
            output("nemesis: signal \(signal) to node \(index) failed: \(error)")
        }
    }

    private func restart(_ index: Int) async {
        do {
            try await cluster.restart(index)
        } catch {
            output("nemesis: restart of node \(index) failed: \(error)")
        }
    }

    private func sleep(until instant: ContinuousClock.Instant) async {
        let remaining = instant - .now
        guard remaining > .zero else { return }
        try? await Task.sleep(for: remaining)
    }

    private static func list(_ nodes: [Int]) -> String { nodes.map(String.init).joined(separator: ",") }
}
