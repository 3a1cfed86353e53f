import Foundation
import KVStore
import Logging
import RaftCore
import RaftPipeline
import RaftStorage
import WRaftCertificates

/// Why a node could not start on its data dir. The process exits non-zero with this message.
public struct NodeStartupError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

// Opening a data dir: the node's identity, recovering its log and state machine, and building
// the Raft core once the node belongs to a cluster (after recovery, `/start` or a join).
extension NodeRuntime {
    // MARK: Opening

    /// Opens the node on its data dir: loads (or makes) its identity, and when it already
    /// belongs to a cluster recovers its log and state machine and runs.
    static func open(
        identity: NodeIdentity, options: NodeOptions, storage: any NodeStorage, transport: any NodeTransport,
        selfAddress: MemberAddress, clock: any RuntimeClock = SystemClock(), logger: Logger,
        onFatalError: @escaping @Sendable (String) -> Void
    ) async throws(NodeStartupError) -> NodeRuntime {
        let runtime = NodeRuntime(
            options: options, storage: storage, transport: transport, localID: identity.nodeID,
            selfAddress: selfAddress, clock: clock, logger: logger, onFatalError: onFatalError)
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
            try? await clock.sleep(for: .milliseconds(options.controlTimeoutMs))
        }
    }

    /// Bounds `relearnPeerKeysIfNeeded`.
    static let relearnAttemptsMax = 10

    /// The node's identity from its data dir, or a new one (a random id) saved there.
    static func loadOrCreateIdentity(storage: any NodeStorage, logger: Logger) async throws(NodeStartupError)
        -> NodeIdentity
    {
        do {
            if let identity = try await storage.loadIdentity() {
                guard identity.nodeID.rawValue != 0 else { throw NodeStartupError("the data dir's identity names node 0") }
                return identity
            }
            let identity = NodeIdentity(nodeID: NodeID(randomNonZero()), clusterID: nil)
            try await storage.saveIdentity(identity)
            logger.notice("new node \(identity.nodeID) in an empty data dir")
            return identity
        } catch let error as NodeStartupError {
            throw error
        } catch {
            throw NodeStartupError("cannot read the data dir's identity: \(error)")
        }
    }

    private func recover(_ identity: NodeIdentity) async throws(NodeStartupError) {
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
        guard case .run = formation.recovered(clusterID: clusterID) else {
            throw NodeStartupError("the node was not initial when its data dir was recovered")
        }
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

    /// Builds the core from durable state and starts taking part in the cluster, once the
    /// formation machine says the node runs in it.
    func becomeRunning(clusterID: UInt64, state: PersistentState, store restored: KVStore) throws(ConfigError) {
        precondition(formation.clusterID == clusterID, "NodeRuntime.becomeRunning: the formation machine runs the node first")
        var config = Config(id: localID)
        config.heartbeatTicks = options.heartbeatTicks
        config.electionTimeoutTicks = options.electionTimeoutTicks
        config.electionTimeoutJitterTicks = options.electionTimeoutJitterTicks
        config.uncommittedBytesMax = options.uncommittedBytesMax
        config.commitBroadcastDelayTicks = min(Self.commitBroadcastDelayTicks, options.heartbeatTicks)
        config.randomSeed = Self.randomNonZero()
        var node = try RaftNode(config: config, state: state)
        node.setRecordingEvents(true)
        core = node
        store = restored
        appliedMembership = state.snapshot.membership
        appliedMembershipIndex = state.snapshot.index
        pipeline = ReadyPipeline(
            persisted: state.hardState, snapshotIndex: state.snapshot.index, queuedWorkMax: Self.persistQueueMax)
        self.clusterID = clusterID
        transport.setClusterID(clusterID)
        publishResponseHeader()  // the recovered term and revision, before the first Ready
        let current = node.currentMembership
        adoptMembershipContext(current.context, membership: current.membership)
        book.set(localID, selfAddress)
        // The transport learns every known peer, including those learned before running.
        for id in book.ids where id != localID {
            transport.setPeer(id, book[id])
        }
        updateIndexMetrics(observeStatus())
        kick()
    }

    /// What the data dir's identity file keeps of this node in cluster `clusterID`: its id, the
    /// addresses it announced, and every other member the book knows.
    func identity(clusterID: UInt64?) -> NodeIdentity {
        var peers: [NodeID: MemberAddress] = [:]
        for id in book.ids where id != localID { peers[id] = book[id] }
        return NodeIdentity(
            nodeID: localID, clusterID: clusterID, raftAddress: selfAddress.raftAddress, httpAddress: selfAddress.httpAddress,
            peers: peers)
    }

    var selfRecord: MemberRecord { MemberRecord(member: localID, selfAddress) }
}
