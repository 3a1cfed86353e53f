import Foundation
import KVStore
import Logging
import RaftCore
import WRaftCertificates
import WRaftSupport

/// Why a node could not start on its data dir. The process exits non-zero with this message.
public struct NodeStartupError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

// Opening a data dir, and the cluster lifecycle of API.md: `/connect` (merge or join), `/start`,
// `/members/remove`, learner promotion.
extension NodeRuntime {
    // MARK: Opening

    /// Opens the node on its data dir: loads (or makes) its identity, and when it already
    /// belongs to a cluster recovers its log and state machine and runs.
    static func open(
        identity: NodeIdentityRecord, options: NodeOptions, storage: any NodeStorage, transport: any NodeTransport,
        selfAddress: MemberAddress, logger: Logger, onFatalError: @escaping @Sendable (String) -> Void
    ) async throws(NodeStartupError) -> NodeRuntime {
        let runtime = NodeRuntime(
            options: options, storage: storage, transport: transport, localID: identity.nodeID,
            selfAddress: selfAddress, logger: logger, onFatalError: onFatalError)
        try await runtime.recover(identity)
        await runtime.startBackgroundWork()
        Task { await runtime.relearnPeerKeysIfNeeded() }
        return runtime
    }

    /// A joiner restarted before its log named anyone knows its peers from its identity file,
    /// which keeps no keys: under TLS it would hear none of them, for good. It asks them again
    /// (a join from a member is answered with the member list, keys included), a bounded number
    /// of times, and takes only keys it lacks.
    func relearnPeerKeysIfNeeded() async {
        for attempt in 0..<Self.relearnAttemptsMax {
            guard isPeerTLS, lifecycle == .running, let clusterID, core?.currentMembership.membership.isEmpty == true else {
                return
            }
            let unkeyed = book.ids.filter { $0 != localID && book[$0]?.fingerprint == nil }
            guard !unkeyed.isEmpty else { return }
            for address in unkeyed.compactMap({ book[$0]?.raftAddress }) {
                let request = ControlRequest.join(member: selfRecord, timeoutMs: options.requestTimeoutMs, isForwarded: false)
                guard case .joined(let theirs, let records)? = try? await call(address, request),
                    ClusterIDFormat.parse(theirs) == clusterID, let members = try? Self.book(from: records)
                else { continue }
                for (id, member) in members.addresses
                where id != localID && member.fingerprint != nil && book[id]?.fingerprint == nil {
                    book.set(id, member)
                    transport.setPeer(id, member)
                }
                logger.notice("learned the members' keys again from \(address) (attempt \(attempt + 1))")
                return
            }
            try? await Task.sleep(for: .milliseconds(options.controlTimeoutMs))
        }
    }

    /// Bounds `relearnPeerKeysIfNeeded`.
    static let relearnAttemptsMax = 10

    /// The node's identity from its data dir, or a new one (a random id) saved there.
    static func loadOrCreateIdentity(storage: any NodeStorage, logger: Logger) async throws(NodeStartupError)
        -> NodeIdentityRecord
    {
        do {
            if let identity = try await storage.loadIdentity() {
                guard identity.nodeID.rawValue != 0 else { throw NodeStartupError("the data dir's identity names node 0") }
                return identity
            }
            let identity = NodeIdentityRecord(nodeID: NodeID(randomNonZero()), clusterID: nil)
            try await storage.saveIdentity(identity)
            logger.notice("new node \(identity.nodeID) in an empty data dir")
            return identity
        } catch let error as NodeStartupError {
            throw error
        } catch {
            throw NodeStartupError("cannot read the data dir's identity: \(error)")
        }
    }

    private func recover(_ identity: NodeIdentityRecord) async throws(NodeStartupError) {
        if let clusterID = identity.clusterID {
            // Its peers know a member by the addresses it announced: on others they would reach
            // nothing (or another process), and the member would be cut off for good.
            let announced = MemberAddress(
                raftAddress: identity.raftAddress ?? selfAddress.raftAddress,
                httpAddress: identity.httpAddress ?? selfAddress.httpAddress)
            guard announced.hasSameAddresses(as: selfAddress) else {
                throw NodeStartupError(
                    "node \(localID) is a member of cluster \(ClusterIDFormat.string(clusterID)) at raft \(announced.raftAddress), http \(announced.httpAddress); restart it on those addresses (it was given raft \(selfAddress.raftAddress), http \(selfAddress.httpAddress))"
                )
            }
            // A member restarted before its log named anyone still knows where its peers are.
            for (id, address) in identity.peers where id != localID { book.set(id, address) }
        }
        let state: PersistentState
        do {
            state = try await storage.recover()
        } catch {
            throw NodeStartupError("cannot recover the data dir: \(error)")
        }
        guard let clusterID = identity.clusterID else {
            guard state.entries.isEmpty, state.snapshot.index == .zero, state.hardState == .initial else {
                throw NodeStartupError(
                    "the data dir holds a Raft log but no cluster id: it is not this node's, or it is damaged; refusing to start"
                )
            }
            logger.info("node \(localID) is initial: /connect it to its peers, then /start")
            return
        }
        let restored = try await restoreStore(at: state.snapshot)
        do {
            try becomeRunning(clusterID: clusterID, state: state, store: restored)
        } catch {
            throw NodeStartupError("cannot restart the Raft core from the data dir: \(error)")
        }
        // Peers know a member by its key: restarted with another one, it would never be heard
        // again (and could hear nobody's answers). Say so now rather than fail silently.
        let context = core?.currentMembership.context ?? []
        let recorded = (try? AddressBook(decoding: context))?[localID]
        if recorded != nil, recorded?.fingerprint == nil, let own = selfAddress.fingerprint {
            throw NodeStartupError(
                "node \(localID) belongs to cluster \(ClusterIDFormat.string(clusterID)), formed without peer TLS: its members are not known by key, so with TLS (key \(own)) none would be heard; restart it without the peer TLS flags, or form a new TLS cluster and move the data"
            )
        }
        if let known = recorded?.fingerprint, known != selfAddress.fingerprint {
            throw NodeStartupError(
                "node \(localID) is known to cluster \(ClusterIDFormat.string(clusterID)) by the public key \(known), but it was started with \(selfAddress.fingerprint.map { "the key \($0)" } ?? "no peer certificate"); restart it with its original key (a renewed certificate may keep the key), or remove it from the cluster and join it anew"
            )
        }
        logger.notice(
            "recovered cluster \(ClusterIDFormat.string(clusterID)): term \(state.hardState.term), commit \(state.hardState.commit), snapshot \(state.snapshot.index), \(state.entries.count) log entries"
        )
    }

    /// The state machine as of the recovered snapshot (entries after it replay through the core).
    private func restoreStore(at snapshot: SnapshotMetadata) async throws(NodeStartupError) -> KVStore {
        guard snapshot.index > .zero else { return KVStore() }
        let latest: (SnapshotMetadata, [UInt8])?
        do {
            latest = try await storage.latestSnapshot()
        } catch {
            throw NodeStartupError("cannot read the snapshot at \(snapshot.index): \(error)")
        }
        guard let (metadata, data) = latest, metadata.index == snapshot.index else {
            throw NodeStartupError("the log is compacted through \(snapshot.index) but that snapshot is missing")
        }
        do {
            return try KVStore(snapshot: data)
        } catch {
            throw NodeStartupError("the snapshot at \(snapshot.index) cannot be decoded: \(error)")
        }
    }

    /// Builds the core from durable state and starts taking part in the cluster.
    func becomeRunning(clusterID: UInt64, state: PersistentState, store restored: KVStore) throws(ConfigError) {
        var config = Config(id: localID)
        config.heartbeatTicks = options.heartbeatTicks
        config.electionTimeoutTicks = options.electionTimeoutTicks
        config.electionTimeoutJitterTicks = options.electionTimeoutJitterTicks
        config.uncommittedBytesMax = options.uncommittedBytesMax
        config.randomSeed = Self.randomNonZero()
        let node = try RaftNode(config: config, state: state)
        core = node
        store = restored
        lastSnapshotIndex = state.snapshot.index
        appliedMembership = state.snapshot.membership
        appliedMembershipIndex = state.snapshot.index
        durableTerm = state.hardState.term
        persistedHardState = state.hardState
        deferredHardState = nil
        self.clusterID = clusterID
        transport.setClusterID(clusterID)
        let current = node.currentMembership
        adoptMembershipContext(current.context, membership: current.membership)
        book.set(localID, selfAddress)
        // The transport learns every known peer, including those learned before running.
        for id in book.ids where id != localID {
            transport.setPeer(id, book[id])
        }
        lifecycle = .running
        updateIndexMetrics(observeStatus())
        kick()
    }

    // MARK: Control requests from other nodes

    /// Answers one control request. `requester` is the key the requester's TLS connection
    /// proved (its certificate chains to the cluster CA); nil in a plaintext cluster.
    func handleControl(_ bytes: [UInt8], requester: PublicKeyFingerprint?) async -> [UInt8] {
        let request: ControlRequest
        do {
            request = try ControlCoding.decode(ControlRequest.self, from: bytes)
        } catch {
            return ControlCoding.encode(ControlResponse.failure(ControlFailure(.badRequest(code: .badRequest, message: error.description))))
        }
        do {
            return ControlCoding.encode(try await respond(to: request, requester: requester))
        } catch {
            return ControlCoding.encode(ControlResponse.failure(ControlFailure(error)))
        }
    }

    /// Whether this node runs mutual TLS on its raft port (it then knows its own key).
    var isPeerTLS: Bool { selfAddress.fingerprint != nil }

    /// Under TLS, refuses a requester that is not a current member (or admitted joiner) by key.
    /// In plaintext nobody proves anything: such clusters are for loopback or trusted networks.
    private func requireMemberKey(_ requester: PublicKeyFingerprint?, for what: String) throws(NodeError) {
        guard isPeerTLS else { return }
        guard let requester, book.addresses.values.contains(where: { $0.fingerprint == requester }) else {
            throw .badRequest(code: .forbiddenPeer, message: "\(what) is accepted only from a member's key")
        }
    }

    /// Under TLS, every member of a list must carry its key (else it could never be heard), and
    /// the requester must be one of them (a node speaks for its own list).
    private func requireKeys(_ book: AddressBook, requester: PublicKeyFingerprint?) throws(NodeError) {
        guard isPeerTLS else { return }
        guard book.addresses.values.allSatisfy({ $0.fingerprint != nil }) else {
            throw .badRequest(code: .badRequest, message: "in a TLS cluster every member record carries its key's fingerprint")
        }
        guard let requester, book.addresses.values.contains(where: { $0.fingerprint == requester }) else {
            throw .badRequest(code: .forbiddenPeer, message: "the requester's key is not in its member list")
        }
    }

    private func respond(to request: ControlRequest, requester: PublicKeyFingerprint?) async throws(NodeError)
        -> ControlResponse
    {
        switch request {
        case .merge(let records):
            let other = try Self.book(from: records)
            try requireKeys(other, requester: requester)
            return try await respondToMerge(other)
        case .start(let clusterIDText, let records):
            let founders = try Self.book(from: records)
            try requireKeys(founders, requester: requester)
            return try await respondToStart(clusterIDText: clusterIDText, founders: founders)
        case .join(let member, let timeoutMs, let isForwarded):
            let (id, address) = try Self.memberAddress(from: member)
            if isForwarded {
                try requireMemberKey(requester, for: "a forwarded join")
            } else if isPeerTLS {
                // The joiner's record must carry the key of the connection it came on: a node
                // joins as itself, never with somebody else's key.
                guard let requester, address.fingerprint == requester else {
                    throw .badRequest(code: .forbiddenPeer, message: "a join must carry the joiner's own key")
                }
            }
            guard !isPeerTLS || address.fingerprint != nil else {
                throw .badRequest(code: .badRequest, message: "a join into a TLS cluster carries the joiner's key")
            }
            return try await respondToJoin(
                member, id: id, address: address, deadline: .now + Self.boundedTimeout(timeoutMs), isForwarded: isForwarded)
        case .invite(let raftAddress, _):
            guard MemberAddressSyntax.problem(with: raftAddress) == nil else {
                throw .badRequest(code: .badPeer, message: "the inviting address is not a host:port raft address")
            }
            return try await respondToInvite(raftAddress)
        case .removeMember(let idText, let timeoutMs, let isForwarded):
            try requireMemberKey(requester, for: "a forwarded removal")
            let id = try Self.parseMember(idText)
            try await removeMember(id, deadline: .now + Self.boundedTimeout(timeoutMs), isForwarded: isForwarded)
            return .done
        case .transferLeadership(let idText, let isForwarded):
            // A transfer request from the wire is a fault injection forwarded by `/op/transfer`:
            // it needs `--enable-faults` here too, or any peer could move leadership at will.
            guard options.isFaultInjectionEnabled else { throw .faultsDisabled }
            try requireMemberKey(requester, for: "a forwarded transfer")
            try await transferLeadership(to: try Self.parseMember(idText), isForwarded: isForwarded)
            return .done
        }
    }

    /// A timeout from the wire, clamped to 1 ms...10 min (a hostile value neither traps nor waits
    /// for ever).
    static func boundedTimeout(_ milliseconds: Int) -> Duration {
        .milliseconds(min(max(milliseconds, 1), 600_000))
    }

    static func memberAddress(from record: MemberRecord) throws(NodeError) -> (NodeID, MemberAddress) {
        do {
            return try record.validated()
        } catch {
            throw .badRequest(code: .badRequest, message: error.description)
        }
    }

    static func parseMember(_ text: String) throws(NodeError) -> NodeID {
        guard let id = NodeID(hex: text), id.rawValue != 0 else {
            throw .badRequest(code: .badID, message: "\(text) is not a member id (16 hex digits)")
        }
        return id
    }

    /// Sends a control request and decodes the answer; a failure answer is thrown as its error.
    func call(_ address: String, _ request: ControlRequest, timeout: Duration? = nil) async throws(NodeError)
        -> ControlResponse
    {
        let reply: [UInt8]
        do {
            reply = try await transport.call(
                address: address, request: ControlCoding.encode(request),
                timeout: timeout ?? .milliseconds(options.controlTimeoutMs))
        } catch {
            throw .peerUnreachable(message: "\(address) did not answer: \(error)")
        }
        let response: ControlResponse
        do {
            response = try ControlCoding.decode(ControlResponse.self, from: reply)
        } catch {
            throw .internalError(message: "\(address) answered: \(error)")
        }
        if case .failure(let failure) = response { throw failure.nodeError }
        return response
    }

    func identityRecord(clusterID: UInt64?) -> NodeIdentityRecord {
        var peers: [NodeID: MemberAddress] = [:]
        for id in book.ids where id != localID { peers[id] = book[id] }
        return NodeIdentityRecord(
            nodeID: localID, clusterID: clusterID, raftAddress: selfAddress.raftAddress, httpAddress: selfAddress.httpAddress,
            peers: peers)
    }

    var selfRecord: MemberRecord { MemberRecord(member: localID, selfAddress) }

    // MARK: /connect

    func connect(peerRaftAddress: String) async throws(NodeError) -> ConnectOutcome {
        let peer = peerRaftAddress.trimmingCharacters(in: .whitespaces)
        guard Self.isPlausibleAddress(peer) else {
            throw .badRequest(code: .badPeer, message: "\(peerRaftAddress) is not a host:port raft address")
        }
        guard peer != selfAddress.raftAddress else {
            throw .badRequest(code: .badPeer, message: "a node cannot connect to itself")
        }
        switch lifecycle {
        case .initial:
            return try await connectWhileInitial(to: peer)
        case .running:
            return try await invite(peer)
        case .starting:
            throw .wrongState(code: .starting, message: "the node is starting; try again in a moment")
        case .stopped:
            throw notRunningError()
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
            return try await join(via: peer)
        case .done, .joined, .failure:
            throw .internalError(message: "\(peer) answered a merge with something else")
        }
    }

    static func book(from records: [MemberRecord]) throws(NodeError) -> AddressBook {
        do {
            return try AddressBook(records: records)
        } catch {
            throw .badRequest(code: .badRequest, message: error.description)
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
            let targets = book.ids.filter { $0 != localID }.compactMap { book[$0]?.raftAddress }
            let answers = await callAll(targets, .merge(members: records))
            var isChanged = false
            for case .success(.members(let theirs)) in answers.values {
                guard var other = try? AddressBook(records: theirs) else { continue }
                other.remove(localID)
                if book.merge(other) { isChanged = true }
            }
            guard isChanged, lifecycle == .initial else { return }
        }
    }

    /// The same request to several addresses at once; each answer or error by address.
    func callAll(_ addresses: [String], _ request: ControlRequest, timeout: Duration? = nil) async
        -> [String: Result<ControlResponse, NodeError>]
    {
        let transport = self.transport
        let bytes = ControlCoding.encode(request)
        let bound = timeout ?? .milliseconds(options.controlTimeoutMs)
        return await withTaskGroup(of: (String, Result<ControlResponse, NodeError>).self) { group in
            for address in addresses {
                group.addTask {
                    do {
                        let reply = try await transport.call(address: address, request: bytes, timeout: bound)
                        let response = try ControlCoding.decode(ControlResponse.self, from: reply)
                        if case .failure(let failure) = response { return (address, .failure(failure.nodeError)) }
                        return (address, .success(response))
                    } catch {
                        return (address, .failure(.peerUnreachable(message: "\(address) did not answer: \(error)")))
                    }
                }
            }
            var answers: [String: Result<ControlResponse, NodeError>] = [:]
            for await (address, answer) in group { answers[address] = answer }
            return answers
        }
    }

    private func respondToMerge(_ other: AddressBook) async throws(NodeError) -> ControlResponse {
        switch lifecycle {
        case .initial:
            try await mergeAndPropagate(other)
            return .members(book.records)
        case .running:
            return .running(clusterID: ClusterIDFormat.string(clusterID ?? 0), members: book.records)
        case .starting:
            throw .wrongState(code: .starting, message: "the node is starting")
        case .stopped:
            throw notRunningError()
        }
    }

    // MARK: Joining a running cluster

    /// This empty `initial` node asks a member of a running cluster (reached at `peer`) to add it,
    /// then runs with an empty log: the leader sends it the log or a snapshot.
    func join(via peer: String) async throws(NodeError) -> ConnectOutcome {
        guard lifecycle == .initial else { throw .wrongState(code: .notInitial, message: "only an initial node joins") }
        lifecycle = .starting
        let response: ControlResponse
        do {
            response = try await call(
                peer, .join(member: selfRecord, timeoutMs: options.requestTimeoutMs, isForwarded: false),
                timeout: .milliseconds(options.requestTimeoutMs + 2 * options.controlTimeoutMs))
        } catch {
            lifecycle = .initial
            throw error
        }
        guard case .joined(let clusterIDText, let records) = response, let clusterID = ClusterIDFormat.parse(clusterIDText)
        else {
            lifecycle = .initial
            throw .internalError(message: "\(peer) answered a join with something else")
        }
        var members = try Self.book(from: records)
        members.remove(localID)
        book = AddressBook([localID: selfAddress])
        book.merge(members)
        do {
            try await storage.saveIdentity(identityRecord(clusterID: clusterID))
        } catch {
            lifecycle = .initial
            throw .internalError(message: "cannot save the node's identity: \(error)")
        }
        do {
            try becomeRunning(clusterID: clusterID, state: PersistentState(), store: KVStore())
        } catch {
            throw .internalError(message: "cannot start the Raft core: \(error)")
        }
        logger.notice("joined cluster \(clusterIDText) through \(peer); catching up as a learner")
        return .joined(clusterID: clusterIDText, members: memberViews())
    }

    private func respondToJoin(
        _ member: MemberRecord, id: NodeID, address: MemberAddress, deadline: ContinuousClock.Instant, isForwarded: Bool
    ) async throws(NodeError) -> ControlResponse {
        guard lifecycle == .running, let core, let clusterID else { throw notRunningError() }
        let joined = ControlResponse.joined(clusterID: ClusterIDFormat.string(clusterID), members: book.records)
        if core.currentMembership.membership.contains(id), appliedMembership.contains(id) { return joined }
        guard isLeader else {
            return try await forwardToLeader(
                .join(member: member, timeoutMs: Self.remainingMs(until: deadline), isForwarded: true),
                isForwarded: isForwarded, deadline: deadline)
        }
        try await changeMembership(ConfigChange(.addLearner, id), newAddress: address, deadline: deadline)
        logger.notice("\(id) at \(member.raftAddress) joins as a learner")
        return .joined(clusterID: ClusterIDFormat.string(clusterID), members: book.records)
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
        case .members, .done, .failure:
            throw .internalError(message: "\(peer) answered an invitation with something else")
        }
    }

    private func respondToInvite(_ raftAddress: String) async throws(NodeError) -> ControlResponse {
        switch lifecycle {
        case .initial:
            guard case .joined(let clusterIDText, _) = try await join(via: raftAddress) else {
                throw .internalError(message: "join ended without joining")
            }
            return .joined(clusterID: clusterIDText, members: book.records)
        case .running:
            return .running(clusterID: ClusterIDFormat.string(clusterID ?? 0), members: book.records)
        case .starting:
            throw .wrongState(code: .starting, message: "the node is starting")
        case .stopped:
            throw notRunningError()
        }
    }

    // MARK: /start

    func start() async throws(NodeError) {
        switch lifecycle {
        case .running:
            try await resendBootstrap()
            return
        case .starting:
            throw .wrongState(code: .starting, message: "the node is already starting")
        case .stopped:
            throw notRunningError()
        case .initial:
            break
        }
        lifecycle = .starting
        do {
            try await confirmFounders()
        } catch {
            lifecycle = .initial
            throw error
        }
        let plan = (clusterID: Self.randomNonZero(), book: book)
        bootstrapPlan = plan
        let others = plan.book.ids.filter { $0 != localID }.compactMap { plan.book[$0]?.raftAddress }
        let answers = await callAll(others, .start(clusterID: ClusterIDFormat.string(plan.clusterID), members: plan.book.records))
        try await bootstrap(clusterID: plan.clusterID, founders: plan.book)
        let missing = answers.filter { if case .failure = $0.value { return true } else { return false } }.keys.sorted()
        guard missing.isEmpty else {
            throw .peerUnreachable(
                message: "the cluster started, but \(missing.joined(separator: ", ")) did not answer; repeat /start to reach them")
        }
    }

    /// Before picking a cluster id: every member must answer and still be initial; their lists
    /// are merged so every founder starts with the same members.
    private func confirmFounders() async throws(NodeError) {
        for _ in 0..<3 {
            let before = book
            let others = book.ids.filter { $0 != localID }.compactMap { book[$0]?.raftAddress }
            let answers = await callAll(others, .merge(members: book.records))
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
        let others = plan.book.ids.filter { $0 != localID }.compactMap { plan.book[$0]?.raftAddress }
        let answers = await callAll(others, .start(clusterID: ClusterIDFormat.string(plan.clusterID), members: plan.book.records))
        let missing = answers.filter { if case .failure = $0.value { return true } else { return false } }.keys.sorted()
        guard missing.isEmpty else {
            throw .peerUnreachable(message: "\(missing.joined(separator: ", ")) did not answer; repeat /start to reach them")
        }
    }

    private func respondToStart(clusterIDText: String, founders: AddressBook) async throws(NodeError) -> ControlResponse {
        guard let startedID = ClusterIDFormat.parse(clusterIDText) else {
            throw .badRequest(code: .badRequest, message: "bad cluster id \(clusterIDText)")
        }
        switch lifecycle {
        case .running:
            guard clusterID == startedID else {
                throw .clusterConflict(message: "this node runs in cluster \(ClusterIDFormat.string(clusterID ?? 0))")
            }
            return .done
        case .starting:
            throw .wrongState(code: .starting, message: "the node is starting")
        case .stopped:
            throw notRunningError()
        case .initial:
            guard founders[localID] != nil else {
                throw .badRequest(code: .badRequest, message: "this node is not among the founders")
            }
            lifecycle = .starting
            try await bootstrap(clusterID: startedID, founders: founders)
            return .done
        }
    }

    /// Persists the founding state (identical on every founder) and runs.
    private func bootstrap(clusterID: UInt64, founders: AddressBook) async throws(NodeError) {
        var members = founders
        members.set(localID, selfAddress)
        let membership = Membership(voters: Set(founders.ids))
        let state = RaftNode.bootstrapState(membership: membership, context: founders.encoded())
        do {
            // The identity first: a crash before the log is written leaves a member with an empty
            // log that catches up from the leader, never a log without its cluster.
            try await storage.saveIdentity(identityRecord(clusterID: clusterID))
            try await storage.persist(hardState: state.hardState, entries: state.entries, snapshot: nil)
        } catch {
            failFatally("persisting the bootstrap state: \(error)")
            throw .internalError(message: "cannot persist the bootstrap state: \(error)")
        }
        book = members
        do {
            try becomeRunning(clusterID: clusterID, state: state, store: KVStore())
        } catch {
            throw .internalError(message: "cannot start the Raft core: \(error)")
        }
        logger.notice("cluster \(ClusterIDFormat.string(clusterID)) started with \(founders.count) founders")
    }

    // MARK: Membership changes

    func removeMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError) {
        try await removeMember(id, deadline: deadline, isForwarded: false)
    }

    private func removeMember(_ id: NodeID, deadline: ContinuousClock.Instant, isForwarded: Bool) async throws(NodeError) {
        guard lifecycle == .running, let core else { throw notRunningError() }
        guard core.currentMembership.membership.contains(id) else {
            if !appliedMembership.contains(id) { throw .notFound(message: "\(id) is not a member") }
            return try await waitForMembership(deadline: deadline) { !$0.contains(id) }
        }
        guard isLeader else {
            _ = try await forwardToLeader(
                .removeMember(id: id.description, timeoutMs: Self.remainingMs(until: deadline), isForwarded: true),
                isForwarded: isForwarded, deadline: deadline)
            return
        }
        try await changeMembership(ConfigChange(.remove, id), newAddress: nil, deadline: deadline)
        logger.notice("\(id) removed")
    }

    /// Proposes a single-server change as leader (waiting while another is in progress) and
    /// waits until it is applied.
    func changeMembership(_ change: ConfigChange, newAddress: MemberAddress?, deadline: ContinuousClock.Instant)
        async throws(NodeError)
    {
        let node = change.node
        let isSatisfied: @Sendable (Membership) -> Bool
        switch change.kind {
        case .addLearner: isSatisfied = { $0.contains(node) }
        case .addVoter: isSatisfied = { $0.isVoter(node) }
        case .remove: isSatisfied = { !$0.contains(node) }
        }
        while true {
            guard lifecycle == .running, let core else { throw notRunningError() }
            guard isLeader else { throw .noLeader(retryAfterMs: Self.retryAfterMs) }
            let current = core.currentMembership.membership
            if isSatisfied(current) { break }
            let next = change.applied(to: current) ?? current
            if let newAddress {
                book.set(node, newAddress)
                transport.setPeer(node, newAddress)
            }
            do {
                try self.core?.proposeMembershipChange(change, context: context(for: next))
                kick()
                break
            } catch .membershipChangePending, .transferInProgress {
                guard ContinuousClock.now + .milliseconds(50) < deadline else {
                    throw .noLeader(retryAfterMs: Self.retryAfterMs)
                }
                try? await Task.sleep(for: .milliseconds(50))
            } catch {
                throw Self.nodeError(for: error)
            }
        }
        try await waitForMembership(deadline: deadline, isSatisfied)
    }

    static func nodeError(for error: ProposalError) -> NodeError {
        switch error {
        case .noLeader, .notLeader, .transferInProgress, .membershipChangePending:
            return .noLeader(retryAfterMs: retryAfterMs)
        case .overloaded:
            return .overloaded(retryAfterMs: retryAfterMs)
        case .invalidMembershipChange(let why):
            return .badRequest(code: .badRequest, message: why)
        case .unknownMember(let id):
            return .notFound(message: "\(id) is not a member")
        case .notMember:
            return .wrongState(code: .notMember, message: "this node is not a member of its cluster")
        }
    }

    func waitForMembership(deadline: ContinuousClock.Instant, _ isSatisfied: @escaping @Sendable (Membership) -> Bool)
        async throws(NodeError)
    {
        if isSatisfied(appliedMembership) { return }
        let id = nextWaiterID
        nextWaiterID += 1
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, NodeError>, Never>) in
            membershipWaiters[id] = MembershipWaiter(isSatisfied: isSatisfied, deadline: deadline, continuation: continuation)
        }
        try result.get()
    }

    func completeMembershipWaiters(_ membership: Membership) {
        for (id, waiter) in membershipWaiters where waiter.isSatisfied(membership) {
            membershipWaiters[id] = nil
            waiter.continuation.resume(returning: .success(()))
        }
    }

    func expireMembershipWaiters(now: ContinuousClock.Instant) {
        for (id, waiter) in membershipWaiters where waiter.deadline <= now {
            membershipWaiters[id] = nil
            waiter.continuation.resume(
                returning: .failure(.unknownOutcome(message: "the membership change was not applied within the deadline")))
        }
    }

    /// Leader: promotes one caught-up learner at a time (its match within
    /// `promotionLagEntriesMax` of the leader's last index).
    func promoteCaughtUpLearner() {
        guard isLeader, let status = core?.status, !status.membership.learners.isEmpty else { return }
        for learner in status.membership.learners.sorted() {
            // Caught up: it holds at least the entry that added it, and lags by a bounded amount.
            guard let progress = status.progress[learner], progress.matchIndex >= appliedMembershipIndex,
                progress.matchIndex.rawValue + UInt64(options.promotionLagEntriesMax) >= status.lastLogIndex.rawValue
            else { continue }
            do {
                try core?.proposeMembershipChange(ConfigChange(.addVoter, learner), context: context(for: status.membership))
                logger.notice("promoting learner \(learner) to voter (match \(progress.matchIndex) of \(status.lastLogIndex))")
                kick()
            } catch {
                // Another change in progress: try again at the next housekeeping round.
            }
            return
        }
    }

    /// Sends a request to the leader's raft port and relays its answer.
    func forwardToLeader(_ request: ControlRequest, isForwarded: Bool, deadline: ContinuousClock.Instant)
        async throws(NodeError) -> ControlResponse
    {
        guard !isForwarded, let leader = core?.currentLeader, leader != localID, let address = book[leader]?.raftAddress else {
            throw .noLeader(retryAfterMs: Self.retryAfterMs)
        }
        return try await call(address, request, timeout: .milliseconds(Self.remainingMs(until: deadline) + options.controlTimeoutMs))
    }

    static func remainingMs(until deadline: ContinuousClock.Instant) -> Int {
        let remaining = ContinuousClock.now.duration(to: deadline)
        let milliseconds = remaining.inMilliseconds
        return Int(max(1, min(milliseconds, 600_000)))
    }
}
