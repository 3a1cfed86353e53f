import RaftCore
import Testing

/// A minimal lock-step driver: the smallest check that the core elects, replicates and commits.
/// The full simulator (RaftSimulation) covers faults; this is the first thing to look at when
/// the core is broken outright.
private struct LockStepCluster {
    var nodes: [NodeID: RaftNode] = [:]
    var applied: [NodeID: [[UInt8]]] = [:]
    var inFlight: [Message] = []

    init(size: Int) throws {
        let ids = (1...size).map { NodeID(UInt64($0)) }
        let state = RaftNode.bootstrapState(membership: Membership(voters: Set(ids)), context: [])
        for id in ids {
            var config = Config(id: id)
            config.randomSeed = 42
            nodes[id] = try RaftNode(config: config, state: state)
            applied[id] = []
        }
    }

    mutating func processReadies() {
        for id in nodes.keys.sorted() {
            guard nodes[id]!.hasReady else { continue }
            let ready = nodes[id]!.ready()
            inFlight.append(contentsOf: ready.messages)
            for entry in ready.committedEntries where entry.kind == .command { applied[id]!.append(entry.data) }
            nodes[id]!.advance(ready)
        }
    }

    mutating func deliverAll() {
        let messages = inFlight
        inFlight = []
        for message in messages { nodes[message.to]?.step(message) }
    }

    mutating func run(ticks: Int) {
        for _ in 0..<ticks {
            for id in nodes.keys.sorted() { nodes[id]!.tick() }
            for _ in 0..<4 {
                processReadies()
                deliverAll()
            }
        }
    }

    var leaders: [NodeID] { nodes.values.filter { $0.status.role == .leader }.map(\.id) }
}

@Test func threeNodesElectOneLeaderAndCommitProposals() throws {
    var cluster = try LockStepCluster(size: 3)
    cluster.run(ticks: 100)
    let leaders = cluster.leaders
    try #require(leaders.count == 1)
    let leader = leaders[0]
    let follower = cluster.nodes.keys.first { $0 != leader }!
    try cluster.nodes[leader]!.propose(Array("a".utf8))
    try cluster.nodes[follower]!.propose(Array("b".utf8))  // forwarded to the leader
    cluster.run(ticks: 20)
    for id in cluster.nodes.keys {
        #expect(cluster.applied[id]!.count == 2, "node \(id) applied \(cluster.applied[id]!.count)")
        #expect(Set(cluster.applied[id]!) == [Array("a".utf8), Array("b".utf8)])
    }
    #expect(Set(cluster.nodes.values.map(\.status.commitIndex)).count == 1)
}
