import KVStore
import RaftCore

/// The scenario vocabulary: faults, client operations and membership changes, each recorded in
/// the trace.
extension Simulation {
    // MARK: Network

    /// Cuts every link between nodes of different groups (both directions). Nodes not named keep
    /// their links. `partition([1], [2, 3])`.
    public func partition(_ groups: Set<NodeID>...) {
        partition(groups)
    }

    public func partition(_ groups: [Set<NodeID>]) {
        for (position, group) in groups.enumerated() {
            for other in groups[(position + 1)...] {
                for from in group.sorted() {
                    for to in other.sorted() {
                        network.block(from: from, to: to)
                        network.block(from: to, to: from)
                    }
                }
            }
        }
        record(.network("partition " + groups.map { TraceFormat.describe(Membership(voters: $0)) }.joined(separator: " | ")))
    }

    /// Cuts every link to and from `id`.
    public func isolate(_ id: NodeID) {
        for other in nodeIDs where other != id {
            network.block(from: id, to: other)
            network.block(from: other, to: id)
        }
        record(.network("isolate \(TraceFormat.name(id))"))
    }

    /// Cuts one direction of one link (asymmetric partitions).
    public func blockLink(from: NodeID, to: NodeID) {
        network.block(from: from, to: to)
        record(.network("block \(TraceFormat.name(from))->\(TraceFormat.name(to))"))
    }

    public func unblockLink(from: NodeID, to: NodeID) {
        network.unblock(from: from, to: to)
        record(.network("unblock \(TraceFormat.name(from))->\(TraceFormat.name(to))"))
    }

    /// Restores every link (loss, duplication and delay stay as `networkFaults` says).
    public func heal() {
        network.unblockAll()
        record(.network("heal"))
    }

    /// Loss, duplication and delay from now on.
    public var networkFaults: NetworkFaults {
        get { network.faults }
        set {
            network.faults = newValue
            record(.network("faults drop=\(newValue.dropProbability) dup=\(newValue.duplicateProbability) delay=\(newValue.delayTicks)"))
        }
    }

    /// Whether a link is cut.
    public func isBlocked(from: NodeID, to: NodeID) -> Bool { network.isBlocked(from: from, to: to) }

    // MARK: Nodes

    /// Crashes the node now: everything not durable is lost.
    public func crash(_ id: NodeID) {
        guard let node = node(id), node.isRunning else { return }
        crashNode(node, at: "by scenario")
    }

    /// Gives the node a disk of its own speed: each write or snapshot save takes a number of
    /// ticks drawn from `ticks` (a slow disk keeps Readys queued behind its write).
    public func setDiskLatency(of id: NodeID, ticks: ClosedRange<Int>) {
        precondition(ticks.lowerBound >= 0, "Simulation: disk latency is not negative")
        node(id)?.diskLatencyTicks = ticks
    }

    /// The node crashes the next time it reaches `point` while processing a Ready.
    public func crash(_ id: NodeID, at point: CrashPoint) {
        node(id)?.scheduledCrash = point
    }

    /// Restarts a crashed node from its durable state.
    public func restart(_ id: NodeID) {
        guard let node = node(id), !node.isRunning, !node.isRetired else { return }
        record(.restart(id))
        start(node)
    }

    /// Starts a new, empty node (not yet a member: add it with `proposeMembershipChange`).
    public func addNode(_ id: NodeID) {
        record(.note("\(TraceFormat.name(id)) starts empty"))
        spawn(id, durable: DurableState())
    }

    /// Stops a node for good (after its removal): it is no longer expected to converge.
    public func retire(_ id: NodeID) {
        guard let node = node(id) else { return }
        if node.isRunning { crashNode(node, at: "retired") }
        node.isRetired = true
    }

    /// The node starts an election now.
    public func campaign(_ id: NodeID) {
        record(.note("\(TraceFormat.name(id)) campaigns"))
        node(id)?.core?.campaign()
    }

    // MARK: Client operations

    /// Proposes a fresh command at `id` (a follower forwards it to its leader).
    @discardableResult
    public func propose(at id: NodeID) throws(ProposalError) -> Proposal {
        let ticket = nextTicket
        nextTicket += 1
        return try propose(ticket: ticket, at: id)
    }

    /// Proposes `count` fresh commands at once at `id`.
    @discardableResult
    public func propose(batchOf count: Int, at id: NodeID) throws(ProposalError) -> [Proposal] {
        guard let node = node(id), node.isRunning else { throw .noLeader }
        let tickets = (0..<UInt64(count)).map { nextTicket + $0 }
        do {
            try node.core?.propose(commands: tickets.map(Simulation.command(ticket:)))
        } catch {
            record(.refused(id, "batch of \(count)", error))
            throw error
        }
        nextTicket += UInt64(count)
        for ticket in tickets { proposals[ticket] = ProposalRecord(proposer: id, proposedAt: now) }
        record(.propose(id, "#\(tickets.first ?? 0)..#\(tickets.last ?? 0)"))
        return tickets.map { Proposal(ticket: $0, proposer: id) }
    }

    private func propose(ticket: UInt64, at id: NodeID) throws(ProposalError) -> Proposal {
        guard let node = node(id), node.isRunning else { throw .noLeader }
        do {
            try node.core?.propose(Simulation.command(ticket: ticket))
        } catch {
            record(.refused(id, "#\(ticket)", error))
            throw error
        }
        proposals[ticket] = ProposalRecord(proposer: id, proposedAt: now)
        record(.propose(id, "#\(ticket)"))
        return Proposal(ticket: ticket, proposer: id)
    }

    /// Asks `id` for a linearizable read (ReadIndex).
    @discardableResult
    public func requestRead(at id: NodeID) throws(ProposalError) -> ReadTicket {
        guard let node = node(id), node.isRunning else { throw .noLeader }
        let readID = ReadRequestID(nextTicket)
        nextTicket += 1
        do {
            try node.core?.requestRead(readID)
        } catch {
            record(.refused(id, "read #\(readID)", error))
            throw error
        }
        reads[readID] = ReadRecord(node: id, requiredIndex: checker.committedMax)
        record(.propose(id, "read #\(readID) (needs >= \(checker.committedMax))"))
        return ReadTicket(id: readID, node: id)
    }

    /// Proposes a membership change at `id` (normally the leader).
    public func proposeMembershipChange(_ change: ConfigChange, at id: NodeID) throws(ProposalError) {
        guard let node = node(id), node.isRunning else { throw .noLeader }
        let what = "\(change.kind) \(TraceFormat.name(change.node))"
        do {
            try node.core?.proposeMembershipChange(change, context: [])
        } catch {
            record(.refused(id, what, error))
            throw error
        }
        record(.propose(id, what))
    }

    /// Asks the leader `id` to hand leadership to `target`.
    public func transferLeadership(from id: NodeID, to target: NodeID) throws(ProposalError) {
        guard let node = node(id), node.isRunning else { throw .noLeader }
        do {
            try node.core?.transferLeadership(to: target)
        } catch {
            record(.refused(id, "transfer to \(TraceFormat.name(target))", error))
            throw error
        }
        record(.propose(id, "transfer to \(TraceFormat.name(target))"))
    }

    /// Takes a snapshot of the node's applied state now; the pipeline saves it behind the
    /// Readys already taken, then compacts the log.
    public func snapshot(_ id: NodeID) {
        guard let node = node(id), let core = node.core else { return }
        takeSnapshot(on: node, core: core, at: node.machine.appliedIndex)
    }

    // MARK: Liveness

    /// The members the current leader knows (voters and learners) that are running.
    public func liveMembers() -> [NodeID] {
        guard let leader = leader(), let membership = status(of: leader)?.membership else { return [] }
        return membership.members.sorted().filter { isRunning($0) }
    }

    /// Heals everything (links, loss, crashed members) and checks liveness: within `ticksMax`
    /// a leader commits a fresh proposal and every live member applies it and every acknowledged
    /// proposal. Records a "Liveness" violation and returns false when that does not happen.
    @discardableResult
    public func checkLiveness(ticksMax: Int) -> Bool {
        heal()
        // Healed means normal latency too: Raft needs round trips well under the election timeout.
        let delayMax = min(network.faults.delayTicks.upperBound, max(1, options.electionTimeoutTicks / 5))
        networkFaults = NetworkFaults(delayTicks: min(network.faults.delayTicks.lowerBound, delayMax)...delayMax)
        options.crashProbabilityPerStage = 0
        for node in nodes where !node.isRunning && !node.isRetired { restart(node.id) }
        let acknowledged = acknowledgedIndexMax
        var probe: Proposal?
        let converged = run(ticksMax: ticksMax) { sim in
            // A probe lost with a deposed leader is proposed again.
            let needsProbe = probe.map { sim.appliedIndex(of: $0) == nil && sim.now % 50 == 0 } ?? true
            if needsProbe {
                if let leader = sim.leader(), let proposal = try? sim.propose(at: leader) { probe = proposal }
            }
            guard let probe, sim.appliedIndex(of: probe) != nil else { return false }
            let members = sim.liveMembers()
            return !members.isEmpty && members.allSatisfy { sim.isApplied(probe, on: $0) && sim.appliedIndex(of: $0) >= acknowledged }
        }
        if !converged {
            let states = nodes.map { node in
                "\(TraceFormat.name(node.id)): \(node.core.map { "\($0.status.role.rawValue) t\($0.status.term) commit \($0.status.commitIndex) applied \(node.machine.appliedIndex)" } ?? (node.isRetired ? "retired" : "down"))"
            }
            fail("Liveness", "no convergence within \(ticksMax) ticks after healing (acknowledged up to \(acknowledged); \(states.joined(separator: "; ")))")
        } else {
            checkStoresAgree()
        }
        return converged
    }

    /// State Machine Safety on the shipped store itself: running members that applied the same
    /// index hold equal key-value stores, however each got there (entries, snapshots, restores).
    func checkStoresAgree() {
        var firstAtIndex: [LogIndex: SimulatedNode] = [:]
        for node in nodes where node.isRunning && !node.isRetired {
            let applied = node.machine.appliedIndex
            guard let other = firstAtIndex[applied] else {
                firstAtIndex[applied] = node
                continue
            }
            if other.machine.store != node.machine.store {
                fail("StateMachineSafety", "\(TraceFormat.name(node.id)) and \(TraceFormat.name(other.id)) applied up to \(applied) but their key-value stores differ")
            }
        }
    }
}
