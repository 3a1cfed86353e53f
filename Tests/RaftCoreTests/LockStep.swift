import RaftCore

/// A lock-step harness for unit tests of the core through its public API: nodes whose Readys are
/// "persisted" instantly, and a message queue the test controls (deliver, drop, inspect).
struct LockStep {
    var nodes: [NodeID: RaftNode] = [:]
    /// Messages sent and not yet delivered or dropped, in send order.
    var queue: [Message] = []
    /// Committed entries each node applied, in order.
    var applied: [NodeID: [Entry]] = [:]
    /// Read states each node received.
    var readStates: [NodeID: [ReadState]] = [:]
    /// Every Ready handed out, per node (for checks on what came together).
    var readies: [NodeID: [Ready]] = [:]

    /// Founders `voters` (and `learners`) bootstrapped with the same first entry.
    init(voters: [UInt64], learners: [UInt64] = [], configure: (inout Config) -> Void = { _ in }) throws {
        let membership = Membership(voters: Set(voters.map { NodeID($0) }), learners: Set(learners.map { NodeID($0) }))
        let state = RaftNode.bootstrapState(membership: membership, context: [])
        var states: [NodeID: PersistentState] = [:]
        for member in membership.members { states[member] = state }
        try self.init(states: states, configure: configure)
    }

    /// Nodes restarted from the given persistent states.
    init(states: [NodeID: PersistentState], configure: (inout Config) -> Void = { _ in }) throws {
        for (id, state) in states {
            nodes[id] = try RaftNode(config: Self.config(id, configure), state: state)
            applied[id] = []
            readStates[id] = []
        }
    }

    /// The configuration of node `id` here: election timeout 10 ticks, jitter 5, heartbeat 2,
    /// the id as random seed; then `configure`.
    static func config(_ id: NodeID, _ configure: (inout Config) -> Void = { _ in }) -> Config {
        var config = Config(id: id)
        config.randomSeed = id.rawValue
        config.electionTimeoutTicks = 10
        config.electionTimeoutJitterTicks = 5
        config.heartbeatTicks = 2
        configure(&config)
        return config
    }

    var ids: [NodeID] { nodes.keys.sorted() }

    func status(_ id: NodeID) -> Status? { nodes[id]?.status }

    /// Takes the node's Ready, does it at once (persist, send, apply) and advances.
    @discardableResult
    mutating func process(_ id: NodeID) -> Ready? {
        guard var node = nodes[id], node.hasReady else { return nil }
        let ready = node.ready()
        queue.append(contentsOf: ready.messages)
        applied[id, default: []].append(contentsOf: ready.committedEntries)
        readStates[id, default: []].append(contentsOf: ready.readStates)
        readies[id, default: []].append(ready)
        node.advance(ready)
        nodes[id] = node
        return ready
    }

    mutating func processAll() {
        for id in ids { while process(id) != nil {} }
    }

    /// Delivers (in order) the queued messages `predicate` picks; the rest stay queued.
    /// Returns how many were delivered.
    @discardableResult
    mutating func deliver(where predicate: (Message) -> Bool = { _ in true }) -> Int {
        let picked = queue.filter(predicate)
        queue.removeAll(where: predicate)
        for message in picked { nodes[message.to]?.step(message) }
        return picked.count
    }

    /// Drops the queued messages `predicate` picks.
    mutating func drop(where predicate: (Message) -> Bool) {
        queue.removeAll(where: predicate)
    }

    /// Processes and delivers until nothing moves (bounded by `roundsMax`); returns the rounds.
    @discardableResult
    mutating func stabilize(roundsMax: Int = 1_000, where predicate: (Message) -> Bool = { _ in true }) -> Int {
        for round in 0..<roundsMax {
            processAll()
            if deliver(where: predicate) == 0 {
                processAll()
                return round
            }
        }
        return roundsMax
    }

    mutating func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times { nodes[id]?.tick() }
    }

    /// `id` campaigns and everything is delivered until quiet.
    mutating func elect(_ id: NodeID) {
        nodes[id]?.campaign()
        stabilize()
    }

    mutating func propose(_ id: NodeID, _ text: String) throws(ProposalError) {
        try nodes[id]?.propose(Array(text.utf8))
    }

    /// Messages in the queue to `to` whose payload `predicate` picks.
    func queued(to: NodeID, _ predicate: (Payload) -> Bool) -> [Message] {
        queue.filter { $0.to == to && predicate($0.payload) }
    }
}

extension Payload {
    var appendRequest: AppendRequest? {
        if case .append(let request) = self { return request }
        return nil
    }

    var appendResponse: AppendResponse? {
        if case .appendResponse(let response) = self { return response }
        return nil
    }

    var voteResponse: VoteResponse? {
        if case .voteResponse(let response) = self { return response }
        return nil
    }

    var voteRequest: VoteRequest? {
        if case .voteRequest(let request) = self { return request }
        return nil
    }
}

/// A persistent state: the bootstrap entry naming `voters`, then one entry per term in `terms`
/// (indices 2, 3, ...), with the hard state's term at the last entry's term (or `term`).
func persistentState(voters: [UInt64], terms: [UInt64], term: UInt64? = nil, commit: UInt64 = 1) -> PersistentState {
    var state = RaftNode.bootstrapState(membership: Membership(voters: Set(voters.map { NodeID($0) })), context: [])
    for (offset, entryTerm) in terms.enumerated() {
        state.entries.append(Entry(term: Term(entryTerm), index: LogIndex(UInt64(offset) + 2), data: Array("e\(offset)".utf8)))
    }
    state.hardState = HardState(term: Term(term ?? max(terms.last ?? 1, 1)), votedFor: nil, commit: LogIndex(commit))
    return state
}
