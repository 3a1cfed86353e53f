import RaftCore
import WRaftSupport

/// What `runCoreBenchmark` measured.
public struct CoreBenchmarkResult: Sendable, CustomStringConvertible {
    public var nodes: Int
    public var batchSize: Int
    public var payloadBytes: Int
    /// Commands committed and applied on the leader.
    public var entriesCommitted: Int
    public var seconds: Double
    public var readyCount: Int
    public var messageCount: Int

    public var entriesPerSecond: Double { seconds > 0 ? Double(entriesCommitted) / seconds : 0 }

    public var description: String {
        let rate = Int(entriesPerSecond.rounded())
        let millis = Int((seconds * 1000).rounded())
        return "core: \(nodes) nodes, batch \(batchSize), \(payloadBytes) B commands: \(entriesCommitted) entries in \(millis) ms = \(rate) entries/s (\(readyCount) readys, \(messageCount) messages)"
    }
}

/// Measures the Raft core alone: `nodes` cores in one thread, in-memory storage, an instant
/// network (every message delivered in the same round), the leader proposing `batchSize` commands
/// of `payloadBytes` bytes per round (pipelined: it does not wait for commits) until `entries`
/// commands are committed and applied on the leader. Wall clock time, so run it in a release build.
public func runCoreBenchmark(nodes: Int = 3, batchSize: Int, entries: Int, payloadBytes: Int = 16) -> CoreBenchmarkResult {
    precondition(nodes >= 1 && batchSize >= 1 && entries >= 1, "runCoreBenchmark: sizes are positive")
    var bench = BenchmarkCluster(nodeCount: nodes)
    let command = [UInt8](repeating: 0x42, count: payloadBytes)
    let batch = [[UInt8]](repeating: command, count: batchSize)
    bench.electFirstNode()
    let clock = ContinuousClock()
    let start = clock.now
    let baseline = bench.appliedCommands
    var proposed = 0
    // Keep a bounded number of proposals ahead of the commit point, as a server's proposal queue would.
    let aheadMax = max(4 * batchSize, 1_024)
    while bench.appliedCommands - baseline < entries {
        if proposed - (bench.appliedCommands - baseline) < aheadMax, proposed < entries {
            bench.propose(batch)
            proposed += batchSize
        }
        bench.runRound()
    }
    let elapsed = start.duration(to: clock.now)
    let seconds = elapsed.inSeconds
    return CoreBenchmarkResult(
        nodes: nodes, batchSize: batchSize, payloadBytes: payloadBytes,
        entriesCommitted: bench.appliedCommands - baseline, seconds: seconds,
        readyCount: bench.readyCount, messageCount: bench.messageCount)
}

/// The benchmark's cluster: no checks, no faults, storage that only keeps what a restart would need.
struct BenchmarkCluster {
    var cores: [RaftNode] = []
    var storedEntryCounts: [Int]
    var applied: [LogIndex]
    var snapshotIndices: [LogIndex]
    var queue: [Message] = []
    var appliedCommands = 0
    var readyCount = 0
    var messageCount = 0
    /// Applied entries between snapshots, which bound the cores' in-memory logs.
    let snapshotEveryEntries: UInt64 = 100_000

    init(nodeCount: Int) {
        let ids = (1...UInt64(nodeCount)).map { NodeID($0) }
        let state = RaftNode.bootstrapState(membership: Membership(voters: Set(ids)), context: [])
        for id in ids {
            var config = Config(id: id)
            config.randomSeed = id.rawValue
            config.inflightMessagesMax = 256
            config.messageBytesMax = 1 << 20
            config.uncommittedBytesMax = 256 << 20
            config.committedBytesPerReadyMax = 64 << 20
            do {
                cores.append(try RaftNode(config: config, state: state))
            } catch {
                preconditionFailure("runCoreBenchmark: the benchmark's configuration is valid (\(error))")
            }
        }
        storedEntryCounts = Array(repeating: 0, count: nodeCount)
        applied = Array(repeating: .zero, count: nodeCount)
        snapshotIndices = Array(repeating: .zero, count: nodeCount)
    }

    mutating func electFirstNode() {
        cores[0].campaign()
        for _ in 0..<100 {
            runRound()
            if cores[0].status.role == .leader, cores[0].status.commitIndex >= 2 { return }
        }
        preconditionFailure("runCoreBenchmark: node 1 wins the uncontested election")
    }

    mutating func propose(_ batch: [[UInt8]]) {
        do {
            if batch.count == 1 { try cores[0].propose(batch[0]) } else { try cores[0].propose(commands: batch) }
        } catch {
            // Overloaded: the round below drains and the next round proposes again.
        }
    }

    /// Every node processes its Ready (persist, send, apply, advance); then every message is
    /// delivered.
    mutating func runRound() {
        for position in cores.indices where cores[position].hasReady {
            let ready = cores[position].ready()
            readyCount += 1
            storedEntryCounts[position] += ready.entries.count
            queue.append(contentsOf: ready.messages)
            for entry in ready.committedEntries {
                applied[position] = entry.index
                if position == 0, entry.kind == .command { appliedCommands += 1 }
            }
            cores[position].advance(ready)
            compactIfDue(position)
        }
        let messages = queue
        queue.removeAll(keepingCapacity: true)
        messageCount += messages.count
        for message in messages {
            let target = Int(message.to.rawValue) - 1
            guard cores.indices.contains(target) else { continue }
            cores[target].step(message)
        }
    }

    private mutating func compactIfDue(_ position: Int) {
        guard snapshotIndices[position].distance(to: applied[position]) >= snapshotEveryEntries,
            let metadata = cores[position].snapshotMetadata(at: applied[position])
        else { return }
        cores[position].compact(to: metadata, retainingEntries: 1_000)
        snapshotIndices[position] = metadata.index
    }
}
