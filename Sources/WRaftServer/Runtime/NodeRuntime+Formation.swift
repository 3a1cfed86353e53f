import KVStore
import RaftCore

// Cluster formation (API.md): `/connect` (merge two initial nodes' member lists, join a running
// cluster, or invite an empty node into this one) and `/start` (bootstrap every founder with the
// same membership). What may happen when is decided by `FormationStateMachine`; this file
// carries out its actions and reports their outcomes back to it.
extension NodeRuntime {
    /// The error a refused formation request answers with.
    func refusalError(_ refusal: FormationStateMachine.Refusal) -> NodeError {
        switch refusal {
        case .starting:
            return .wrongState(code: .starting, message: "the node is starting; try again in a moment")
        case .alreadyStarting:
            return .wrongState(code: .starting, message: "the node is already starting")
        case .notInitial:
            return .wrongState(code: .notInitial, message: "only an initial node joins")
        case .otherCluster(let running):
            return .clusterConflict(message: "this node runs in cluster \(ClusterIDFormat.string(running))")
        case .stopped:
            return notRunningError()
        }
    }

    /// The error for an action a request cannot lead to (the machine answers each request with
    /// a known set), or for a stale outcome (the node stopped meanwhile).
    private func unexpected(_ action: FormationStateMachine.Action) -> NodeError {
        if case .refuse(let refusal) = action { return refusalError(refusal) }
        if action == .none { return notRunningError() }
        return .internalError(message: "formation: unexpected \(action) in \(formation.state)")
    }

    // MARK: /connect

    func connect(peerRaftAddress: String) async throws(NodeError) -> ConnectOutcome {
        let peer = peerRaftAddress.trimmingCharacters(in: .whitespaces)
        guard Self.isPlausibleAddress(peer) else {
            throw .badRequest(code: .badPeer, message: "\(peerRaftAddress) is not a host:port raft address")
        }
        guard peer != selfAddress.raftAddress else {
            throw .badRequest(code: .badPeer, message: "a node cannot connect to itself")
        }
        switch formation.connectRequested() {
        case .sendMerge: return try await connectWhileInitial(to: peer)
        case .sendInvite: return try await invite(peer)
        case let other: throw unexpected(other)
        }
    }

    static func isPlausibleAddress(_ address: String) -> Bool {
        MemberAddressSyntax.problem(with: address) == nil
    }

    private func connectWhileInitial(to peer: String) async throws(NodeError) -> ConnectOutcome {
        switch try await call(peer, .merge(members: book.records)) {
        case .members(let records):
            try await mergeAndPropagate(try Self.book(from: records))
            return .merged(members: memberViews())
        case .running:
            let action = formation.peerIsRunning()
            guard case .sendJoin(let attempt) = action else { throw unexpected(action) }
            return try await join(via: peer, attempt: attempt)
        case .done, .joined, .failure, .lease:
            throw .internalError(message: "\(peer) answered a merge with something else")
        }
    }

    /// Merges another node's member list into ours and, when ours grew, pushes it to every
    /// member we know, so that n nodes need only n-1 connects in any order.
    private func mergeAndPropagate(_ other: AddressBook) async throws(NodeError) {
        var incoming = other
        incoming.remove(localID)
        guard book.merge(incoming) else { return }
        logger.info("member list is now \(book.ids.map(\.description).joined(separator: ","))")
        await pushMemberList()
    }

    /// Sends our member list to every other member, merging their answers, until nothing changes
    /// (bounded by the number of members: every round that continues learned a new one).
    private func pushMemberList() async {
        for _ in 0..<AddressBook.membersMax {
            let records = book.records
            let answers = await callAll(book.raftAddresses(excluding: localID), .merge(members: records))
            var isChanged = false
            for case .success(.members(let theirs)) in answers.values {
                guard var other = try? AddressBook(records: theirs) else { continue }
                other.remove(localID)
                if book.merge(other) { isChanged = true }
            }
            guard isChanged, lifecycle == .initial else { return }
        }
    }

    func respondToMerge(_ other: AddressBook) async throws(NodeError) -> ControlResponse {
        switch formation.mergeReceived() {
        case .mergeMembers:
            try await mergeAndPropagate(other)
            return .members(book.records)
        case .answerRunning(let clusterID):
            return .running(clusterID: ClusterIDFormat.string(clusterID), members: book.records)
        case let other:
            throw unexpected(other)
        }
    }

    // MARK: Joining a running cluster

    /// This empty node (joining, attempt `attempt`) asks a member of a running cluster (reached
    /// at `peer`) to add it, then runs with an empty log: the leader sends it the log or a
    /// snapshot.
    private func join(via peer: String, attempt: UInt64) async throws(NodeError) -> ConnectOutcome {
        let clusterID: UInt64
        do throws(NodeError) {
            let response = try await call(
                peer, .join(member: selfRecord, timeoutMs: options.requestTimeoutMs, isForwarded: false),
                timeout: .milliseconds(options.requestTimeoutMs + 2 * options.controlTimeoutMs))
            guard case .joined(let clusterIDText, let records) = response, let parsed = ClusterIDFormat.parse(clusterIDText)
            else {
                throw NodeError.internalError(message: "\(peer) answered a join with something else")
            }
            var members = try Self.book(from: records)
            members.remove(localID)
            clusterID = parsed
            book = AddressBook([localID: selfAddress])
            book.merge(members)
            do {
                try await storage.saveIdentity(identity(clusterID: clusterID))
            } catch {
                throw NodeError.internalError(message: "cannot save the node's identity: \(error)")
            }
        } catch {
            _ = formation.failed(attempt: attempt)
            throw error
        }
        guard case .run = formation.joined(attempt: attempt, clusterID: clusterID) else {
            throw unexpected(.none)
        }
        do {
            try becomeRunning(clusterID: clusterID, state: PersistentState(), store: KVStore())
        } catch {
            throw .internalError(message: "cannot start the Raft core: \(error)")
        }
        logger.notice("joined cluster \(ClusterIDFormat.string(clusterID)) through \(peer); catching up as a learner")
        return .joined(clusterID: ClusterIDFormat.string(clusterID), members: memberViews())
    }

    /// `/connect` from a running node to another node: an empty initial node is asked to join
    /// this cluster; a node of this cluster is already in; any other running node conflicts.
    private func invite(_ peer: String) async throws(NodeError) -> ConnectOutcome {
        let ours = ClusterIDFormat.string(clusterID ?? 0)
        let response = try await call(
            peer, .invite(raftAddress: selfAddress.raftAddress, timeoutMs: options.requestTimeoutMs),
            timeout: .milliseconds(options.requestTimeoutMs + 3 * options.controlTimeoutMs))
        switch response {
        case .joined(let theirs, _), .running(let theirs, _):
            guard theirs == ours else {
                throw .clusterConflict(message: "\(peer) belongs to cluster \(theirs), this node to \(ours)")
            }
            return .joined(clusterID: ours, members: memberViews())
        case .members, .done, .failure, .lease:
            throw .internalError(message: "\(peer) answered an invitation with something else")
        }
    }

    func respondToInvite(_ raftAddress: String) async throws(NodeError) -> ControlResponse {
        switch formation.inviteReceived() {
        case .sendJoin(let attempt):
            guard case .joined(let clusterIDText, _) = try await join(via: raftAddress, attempt: attempt) else {
                throw .internalError(message: "join ended without joining")
            }
            return .joined(clusterID: clusterIDText, members: book.records)
        case .answerRunning(let clusterID):
            return .running(clusterID: ClusterIDFormat.string(clusterID), members: book.records)
        case let other:
            throw unexpected(other)
        }
    }

    // MARK: /start

    func start() async throws(NodeError) {
        switch formation.startRequested() {
        case .confirmFounders(let attempt):
            try await startCluster(attempt: attempt)
        case .resendStart:
            try await resendBootstrap()
        case let other:
            throw unexpected(other)
        }
    }

    /// This node's `/start` (attempt `attempt`): confirms the founders, draws the cluster id,
    /// tells every founder, and bootstraps.
    private func startCluster(attempt: UInt64) async throws(NodeError) {
        do {
            try await confirmFounders()
        } catch {
            _ = formation.failed(attempt: attempt)
            throw error
        }
        let plan = (clusterID: Self.randomNonZero(), book: book)
        let action = formation.foundersConfirmed(attempt: attempt, clusterID: plan.clusterID)
        guard case .bootstrap(let clusterID, let startAttempt) = action else { throw unexpected(action) }
        bootstrapPlan = plan
        let answers = await callAll(
            plan.book.raftAddresses(excluding: localID),
            .start(clusterID: ClusterIDFormat.string(clusterID), members: plan.book.records))
        try await bootstrap(clusterID: clusterID, founders: plan.book, attempt: startAttempt)
        let missing = Self.unanswered(answers)
        guard missing.isEmpty else {
            throw .peerUnreachable(
                message: "the cluster started, but \(missing.joined(separator: ", ")) did not answer; repeat /start to reach them")
        }
    }

    /// The addresses whose answer was a failure, sorted.
    private static func unanswered(_ answers: [String: Result<ControlResponse, NodeError>]) -> [String] {
        answers.filter { if case .failure = $0.value { return true } else { return false } }.keys.sorted()
    }

    /// Before picking a cluster id: every member must answer and still be initial; their lists
    /// are merged so every founder starts with the same members.
    private func confirmFounders() async throws(NodeError) {
        for _ in 0..<3 {
            let before = book
            let answers = await callAll(book.raftAddresses(excluding: localID), .merge(members: book.records))
            for (address, answer) in answers.sorted(by: { $0.key < $1.key }) {
                switch answer {
                case .success(.members(let records)):
                    var theirs = try Self.book(from: records)
                    theirs.remove(localID)
                    book.merge(theirs)
                case .success(.running(let clusterIDText, _)):
                    throw .clusterConflict(message: "\(address) already runs in cluster \(clusterIDText)")
                case .success:
                    throw .internalError(message: "\(address) answered a merge with something else")
                case .failure(let error):
                    throw error
                }
            }
            if book == before { return }
        }
    }

    private func resendBootstrap() async throws(NodeError) {
        guard let plan = bootstrapPlan else { return }
        let answers = await callAll(
            plan.book.raftAddresses(excluding: localID),
            .start(clusterID: ClusterIDFormat.string(plan.clusterID), members: plan.book.records))
        let missing = Self.unanswered(answers)
        guard missing.isEmpty else {
            throw .peerUnreachable(message: "\(missing.joined(separator: ", ")) did not answer; repeat /start to reach them")
        }
    }

    func respondToStart(clusterIDText: String, founders: AddressBook) async throws(NodeError) -> ControlResponse {
        guard let startedID = ClusterIDFormat.parse(clusterIDText) else {
            throw .badRequest(code: .badRequest, message: "bad cluster id \(clusterIDText)")
        }
        // Checked before the machine moves: a start that does not name this node changes nothing.
        guard founders[localID] != nil || formation.state != .initial else {
            throw .badRequest(code: .badRequest, message: "this node is not among the founders")
        }
        switch formation.startReceived(clusterID: startedID) {
        case .bootstrap(let clusterID, let attempt):
            try await bootstrap(clusterID: clusterID, founders: founders, attempt: attempt)
            return .done
        case .alreadyDone:
            return .done
        case let other:
            throw unexpected(other)
        }
    }

    /// Persists the founding state (identical on every founder) and runs.
    private func bootstrap(clusterID: UInt64, founders: AddressBook, attempt: UInt64) async throws(NodeError) {
        var members = founders
        members.set(localID, selfAddress)
        let membership = Membership(voters: Set(founders.ids))
        let state = RaftNode.bootstrapState(membership: membership, context: founders.encoded())
        do {
            // The identity first: a crash before the log is written leaves a member with an empty
            // log that catches up from the leader, never a log without its cluster.
            try await storage.saveIdentity(identity(clusterID: clusterID))
            try await storage.persist(hardState: state.hardState, entries: state.entries, snapshot: nil)
        } catch {
            failFatally("persisting the bootstrap state: \(error)")
            throw .internalError(message: "cannot persist the bootstrap state: \(error)")
        }
        guard case .run = formation.bootstrapped(attempt: attempt) else { throw unexpected(.none) }
        book = members
        do {
            try becomeRunning(clusterID: clusterID, state: state, store: KVStore())
        } catch {
            throw .internalError(message: "cannot start the Raft core: \(error)")
        }
        logger.notice("cluster \(ClusterIDFormat.string(clusterID)) started with \(founders.count) founders")
    }
}
