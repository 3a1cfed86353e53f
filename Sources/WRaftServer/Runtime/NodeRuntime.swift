import KVStore
import Logging
import Metrics
import RaftCore
import RaftPipeline
import RaftStorage
import Synchronization

/// The node: the one owner of the Raft core, the key-value state machine and the address book.
///
/// Everything that touches Raft state runs on this actor. Blocking work never does: the durable
/// store runs on its own thread (`await storage.persist`), the transport on NIO's event loops.
/// While one `Ready` is being persisted the actor keeps stepping messages, ticks and proposals
/// into the core; they land in the next `Ready` and share its fsync (group commit).
///
/// The order of sends, writes, applies and advances is `ReadyPipeline`'s (RaftPipeline, the
/// same type the simulator drives); this actor carries out its actions. Its latency decisions
/// (each keeps a request from waiting for an fsync it does not depend on): a leader's appends
/// leave before its own write of the same entries (dissertation 10.2.1); committed entries are
/// applied before the Ready's new entries are written; a hard state that differs only by its
/// commit index is written with the next entries; a read-index answer is taken at once. Beyond
/// the pipeline, a follower sends client proposals and read-index requests to the leader at
/// once, instead of through its own next Ready.
actor NodeRuntime {
    /// Where the node is in its life (API.md "Node lifecycle").
    enum Lifecycle: String, Sendable {
        /// Standalone: knows only the members it was connected to; serves no data.
        case initial
        /// Between `initial` and `running`: persisting the bootstrap state or joining.
        case starting
        /// A member of its cluster.
        case running
        /// Shut down, or stopped by a storage failure: answers nothing.
        case stopped
    }

    /// A snapshot received from the leader: its bytes (to save) and the store decoded from them
    /// (to install). The pipeline holds it until the core's `Ready` names it.
    struct ReceivedSnapshot: Sendable {
        let data: [UInt8]
        let store: KVStore
    }

    /// The role, term and leader last seen, to log and count their changes.
    struct Observed: Equatable {
        var role: Role?
        var term: Term
        var leader: NodeID?
    }

    // MARK: Fixed at creation

    let options: NodeOptions
    let storage: any NodeStorage
    let transport: any NodeTransport
    let localID: NodeID
    let selfAddress: MemberAddress
    let metrics = RuntimeMetrics()
    /// What this node did, for `GET /events` (NodeRuntime+Events.swift).
    nonisolated let eventLog: NodeEventLog
    /// The node's watches (NodeRuntime+Watch.swift, ../Watch/): fed after every apply.
    nonisolated let watchHub: WatchHub
    /// etcd's response-header numbers, republished after every Ready and apply
    /// (NodeRuntime+Etcd.swift) and read by the etcd services without a call into the actor.
    nonisolated let publishedHeader: Mutex<ResponseHeaderNumbers>
    /// The time every timer of the node runs on (ticks, deadlines, retries, `lastContact`).
    let clock: any RuntimeClock
    /// This process's request-id space: the high bits of every client id this incarnation uses.
    let incarnation: UInt64
    /// Called once if the node must stop because its storage failed (the process exits).
    let onFatalError: @Sendable (String) -> Void
    var logger: Logger

    // MARK: Lifecycle and cluster

    /// Where the node is in forming or joining its cluster (the one place that decides it).
    var formation = FormationStateMachine()
    var lifecycle: Lifecycle { formation.lifecycle }
    var clusterID: UInt64?
    /// Addresses of every member this node knows (itself included).
    var book: AddressBook
    /// The founding members and cluster id, kept by the node that ran `/start` so that a repeated
    /// `/start` can reach founders that missed the first one.
    var bootstrapPlan: (clusterID: UInt64, book: AddressBook)?

    // MARK: Raft and the state machine (running only)

    var core: RaftNode?
    var store = KVStore()
    var observed = Observed(role: nil, term: .zero, leader: nil)
    /// The last leader this node knew (kept while it knows none): a leader other than this one
    /// is a leader change (`wraft_leader_changes_total`); the same one again after an election
    /// that it won again, or after a pre-vote that failed, is not.
    var lastKnownLeader: NodeID?
    /// The store's revision (and whether it tracked revisions) at the last watch publication.
    var watchPublication: (revision: UInt64, tracksRevisions: Bool) = (0, false)

    // MARK: The Ready loop

    var isDriving = false
    /// The pipeline's rules and state: Readys waiting for storage, the write in flight, the
    /// durable term and hard state, received snapshots, the own snapshot in progress.
    var pipeline = ReadyPipeline<ReceivedSnapshot>(persisted: .initial, snapshotIndex: .zero)
    /// A task will start the pipeline's next write (`scheduleNextWrite`).
    var isWriteScheduled = false
    var isFlushScheduled = false
    /// Peers a snapshot is being streamed to.
    var snapshotsInFlight: Set<NodeID> = []
    /// `/op/snapshot` callers waiting for the snapshot in progress to be durable.
    var snapshotWaiters: [CheckedContinuation<Void, Never>] = []
    /// Command bytes applied since the last snapshot was started (see `snapshotLogBytes`).
    var appliedBytesSinceSnapshot = 0

    // MARK: Client requests

    var nextWriteSequence: UInt64 = 1
    /// Every client write from its arrival to its answer (ProposalQueue's rules), keyed by its
    /// sequence; queued ones are proposed together at the top of the next loop turn.
    var proposals: ProposalQueue<ContinuousClock.Instant>
    /// The client of each write `proposals` holds (the same keys).
    var writeWaiters: [UInt64: WriteWaiter] = [:]
    var nextReadSequence: UInt64 = 1
    /// Read attempt ids are `incarnation + n`, as client ids carry the incarnation: an answer
    /// meant for an earlier process of this node matches no read of this one.
    var nextReadAttempt: UInt64
    var reads: PendingTable<PendingRead>
    /// The current attempt id of each pending read, to find the read a `ReadState` answers.
    var readAttempts: [ReadRequestID: UInt64] = [:]
    /// Reads whose index is known, waiting for the state machine to reach it.
    var readsAwaitingApply: [UInt64] = []
    /// The configuration of the last membership entry applied (what membership waiters check).
    var appliedMembership = Membership.empty
    /// The index of that entry (or of the snapshot that carried it).
    var appliedMembershipIndex = LogIndex.zero
    var membershipWaiters: [UInt64: MembershipWaiter] = [:]
    var nextWaiterID: UInt64 = 1
    /// The leader's lease deadlines (empty on other nodes).
    var leaseTimers = LeaseTimers<ContinuousClock.Instant>(revokeRetryInterval: .seconds(2))

    // MARK: Faults, time, peers

    var faults: FaultState
    var tickCount: UInt64 = 0
    /// When a message from each peer last arrived (for `/state`'s `lastContactMs`).
    var lastContact: [NodeID: ContinuousClock.Instant] = [:]
    /// The leader's heartbeat round trips per peer, and their histograms (made once per peer;
    /// bounded like the timed peers, by `PeerRoundTrips.peersMax`).
    var roundTrips: PeerRoundTrips
    var roundTripTimers: [NodeID: Metrics.Timer] = [:]
    var backgroundTasks: [Task<Void, Never>] = []

    /// Client ids are `incarnation | lane`: spreading one process's requests over lanes keeps each
    /// client session's window of remembered results (KVStore) covering the retries in flight.
    static let requestLanes: UInt64 = 64

    init(
        options: NodeOptions, storage: any NodeStorage, transport: any NodeTransport, localID: NodeID,
        selfAddress: MemberAddress, clock: any RuntimeClock = SystemClock(), logger: Logger,
        onFatalError: @escaping @Sendable (String) -> Void
    ) {
        precondition(localID.rawValue != 0, "NodeRuntime: node ids are never 0")
        self.options = options
        self.storage = storage
        self.transport = transport
        self.localID = localID
        self.selfAddress = selfAddress
        self.clock = clock
        self.eventLog = NodeEventLog(
            tickMs: options.tickMs, heartbeatMs: options.heartbeatMs, electionTimeoutMs: options.electionTimeoutMs)
        self.onFatalError = onFatalError
        let watchHub = WatchHub(limits: WatchLimits(watchersMax: options.watchersMax))
        self.watchHub = watchHub
        self.publishedHeader = Mutex(ResponseHeaderNumbers(clusterID: 0, memberID: localID.rawValue, term: 0, revision: 0))
        Task { await watchHub.runFanOut() }
        var generator = SystemRandomNumberGenerator()
        self.incarnation = generator.next() & ~(Self.requestLanes - 1)
        self.nextReadAttempt = incarnation &+ 1
        self.faults = FaultState(seed: generator.next())
        self.proposals = ProposalQueue(
            localID: localID,
            limits: .init(writesMax: options.pendingWritesMax, commandBytesMax: options.pendingWriteBytesMax))
        self.reads = PendingTable(countMax: options.pendingReadsMax)
        self.roundTrips = PeerRoundTrips(staleAfter: .milliseconds(max(options.electionTimeoutMs, 1)))
        self.book = AddressBook([localID: selfAddress])
        var logger = logger
        logger[metadataKey: "raft.node_id"] = "\(localID)"
        self.logger = logger
    }

    // MARK: Background loops

    /// Starts the clock and the intake of peer messages and control requests.
    func startBackgroundWork() {
        let transport = self.transport
        let receiver = Task { [weak self] in
            await transport.forEachIncoming { [weak self] item in
                switch item {
                case .message(let message):
                    await self?.receive(message)
                case .snapshot(let message, let data):
                    // Decoding a large state machine takes a while: do it here, off the actor.
                    let decoded = Result { () throws(KVCodecError) -> KVStore in try KVStore(snapshot: data) }
                    await self?.receiveSnapshot(message, data: data, decoded: decoded)
                }
            }
        }
        let tickMs = options.tickMs
        let clock = self.clock
        let ticker = Task { [weak self] in
            var next = clock.now
            while !Task.isCancelled {
                next = next.advanced(by: .milliseconds(tickMs))
                // After a stall (a paused process, a slow machine) do not fire a burst of ticks.
                if next < clock.now { next = clock.now }
                do {
                    try await clock.sleep(until: next)
                } catch {
                    return
                }
                guard let self else { return }
                await self.tick()
            }
        }
        backgroundTasks = [receiver, ticker]
        transport.setControlHandler { [weak self] request, requester in
            guard let self else { return ControlCoding.encode(ControlResponse.failure(ControlFailure(.wrongState(code: .stopped, message: "node stopped")))) }
            return await self.handleControl(request, requester: requester)
        }
    }

    /// Stops the loops and answers every waiting request; the transport and storage are closed
    /// by their owner.
    func stop() {
        guard lifecycle != .stopped else { return }
        formation.stop()
        pipeline.stop()
        for task in backgroundTasks { task.cancel() }
        backgroundTasks = []
        failAllRequests(with: .internalError(message: "the node is shutting down"))
        watchHub.close()
        logger.info("node stopped")
    }

    /// The storage failed: nothing Raft promises can be kept from here on. Stop taking part and
    /// let the process owner exit (a restart recovers from what is durable).
    func failFatally(_ reason: String) {
        guard lifecycle != .stopped else { return }
        logger.critical("storage failure, the node stops", metadata: ["error": "\(reason)"])
        stop()
        onFatalError(reason)
    }

    func failAllRequests(with error: NodeError) {
        for id in proposals.removeAll() {
            writeWaiters.removeValue(forKey: id.rawValue)?.continuation.resume(returning: .failure(error))
        }
        for request in reads.removeAll(where: { _ in true }) { request.continuation.resume(returning: .failure(error)) }
        readAttempts = [:]
        readsAwaitingApply = []
        for waiter in membershipWaiters.values { waiter.continuation.resume(returning: .failure(error)) }
        membershipWaiters = [:]
        // `/op/snapshot` callers: the snapshot will not complete any more.
        let snapshotCallers = snapshotWaiters
        snapshotWaiters = []
        for waiter in snapshotCallers { waiter.resume() }
    }

    // MARK: Events

    /// One tick of the node's clock.
    func tick() {
        guard lifecycle == .running, core != nil else { return }
        tickCount &+= 1
        // A paused or frozen node's Raft clock stands still; its requests still time out.
        if !faults.isPaused && !faults.isFrozen {
            core?.tick()
            observeStatus()
        }
        // Housekeeping every 5 ticks (50 ms by default) bounds the cost of scanning requests.
        if tickCount % 5 == 0 { performHousekeeping() }
        kick()
    }

    /// A message from a peer (a snapshot's message only counts with its bytes: `receiveSnapshot`).
    func receive(_ message: Message) {
        guard admit(message) else { return }
        eventLog.recordMessage(message, isSent: false)
        if case .heartbeatResponse = message.payload, isLeader { noteHeartbeatResponse(from: message.from) }
        switch pipeline.arrived(message) {
        case .step:
            core?.step(message)
            kick()
        case .readIndex(let readState):
            noteReadIndex(readState)
            serveReadsUpToApplied()
        case .ignore:
            break
        }
    }

    /// A snapshot from the leader: its message, its bytes, and the state machine decoded from
    /// them. The bytes are kept until the core's `Ready` names that snapshot.
    func receiveSnapshot(_ message: Message, data: [UInt8], decoded: Result<KVStore, KVCodecError>) {
        guard lifecycle == .running, core != nil, message.to == localID,
            case .installSnapshot(let metadata) = message.payload
        else { return }
        let restored: KVStore
        switch decoded {
        case .success(let store): restored = store
        case .failure(let error):
            logger.warning("snapshot refused", metadata: ["raft.peer_id": "\(message.from)", "error": "\(error)"])
            return
        }
        guard restored.appliedIndex == metadata.index else {
            logger.warning(
                "snapshot refused: its state is not at the index its message names",
                metadata: [
                    "raft.peer_id": "\(message.from)", "raft.snapshot_index": "\(metadata.index)",
                    "state_index": "\(restored.appliedIndex)",
                ])
            return
        }
        guard admit(message), let commitBefore = core?.status.commitIndex else { return }
        core?.step(message)
        // The pipeline keeps the bytes if the core accepted the snapshot, until a Ready names it.
        pipeline.snapshotStepped(
            metadata, ReceivedSnapshot(data: data, store: restored), commitIndexBefore: commitBefore,
            snapshotIndexAfter: core?.status.snapshotIndex ?? .zero)
        kick()
    }

    /// Whether a message from a peer reaches the pipeline (the node runs, it is addressed here,
    /// no injected fault drops it); notes the sender's contact.
    private func admit(_ message: Message) -> Bool {
        guard lifecycle == .running, core != nil, message.to == localID else { return false }
        guard !faults.dropsIncoming(from: message.from) else {
            metrics.incomingDropped.increment()
            return false
        }
        // Only members are tracked: the map stays bounded by the membership, whatever ids a
        // message claims (the transport already drops senders that are not members).
        if book[message.from] != nil { lastContact[message.from] = clock.now }
        return true
    }

    /// Notices role, term and leader changes: logs them, counts them, and retries the requests
    /// a leader change may have lost.
    @discardableResult
    func observeStatus() -> Status? {
        guard let core else { return nil }
        let status = core.status
        let now = Observed(role: status.role, term: status.term, leader: status.leader)
        guard now != observed else { return status }
        let before = observed
        observed = now
        if now.term != before.term {
            logger[metadataKey: "raft.term"] = "\(now.term)"
            metrics.term.record(Int(truncatingIfNeeded: now.term.rawValue))
        }
        if now.role != before.role {
            metrics.role.record(RuntimeMetrics.roleValue(now.role))
            metrics.isLeader.record(now.role == .leader ? 1 : 0)
            if before.role == .leader { roundTrips.reset() }
            logRoleChange(from: before.role, to: now.role, term: now.term)
        }
        if now.leader != before.leader {
            noteLeader(now.leader)
        }
        return status
    }

    /// The leader field changed: count a new leader (once per leader: a field cleared at a
    /// pre-vote and set again is not a second change), log it with its addresses, retry the
    /// requests a leader change may have lost.
    private func noteLeader(_ leader: NodeID?) {
        metrics.hasLeader.record(leader == nil ? 0 : 1)
        guard let leader else {
            logger.info("no leader", metadata: ["raft.last_leader_id": "\(lastKnownLeader.map(\.description) ?? "none")"])
            return
        }
        if leader != lastKnownLeader {
            metrics.leaderChanges.increment()
            lastKnownLeader = leader
        }
        let address = book[leader]
        logger.notice(
            "leader known",
            metadata: [
                "raft.leader_id": "\(leader)", "raft.leader_address": "\(address?.raftAddress ?? "unknown")",
                "raft.leader_http_address": "\(address?.httpAddress ?? "unknown")",
            ])
        retryRequestsAfterLeaderChange()
    }

    private func logRoleChange(from old: Role?, to new: Role?, term: Term) {
        let fields: Logger.Metadata = ["raft.role": "\(new?.rawValue ?? "none")", "raft.previous_role": "\(old?.rawValue ?? "none")"]
        switch new {
        case .preCandidate:
            metrics.elections.increment()
            logger.info("election timeout: pre-vote started", metadata: fields.merging(["raft.election_term": "\(term.next)"]) { $1 })
        case .candidate:
            if old != .preCandidate { metrics.elections.increment() }
            logger.info("election started", metadata: fields)
        case .leader:
            logger.notice("election won", metadata: fields)
        case .follower where old == .candidate || old == .preCandidate:
            logger.info("election lost or abandoned", metadata: fields)
        case .follower where old == .leader:
            logger.notice("stepped down as leader", metadata: fields)
        default:
            logger.info("role changed", metadata: fields)
        }
    }

    /// A heartbeat response reached the leader: its peer's round trip, if one was timed.
    private func noteHeartbeatResponse(from peer: NodeID) {
        guard let elapsed = roundTrips.responseReceived(from: peer, at: clock.now) else { return }
        roundTripTimer(peer)?.record(duration: elapsed)
    }

    /// The round-trip histogram of `peer`, made on first use; nil past `PeerRoundTrips.peersMax` peers.
    private func roundTripTimer(_ peer: NodeID) -> Metrics.Timer? {
        if let timer = roundTripTimers[peer] { return timer }
        guard roundTripTimers.count < PeerRoundTrips.peersMax else { return nil }
        let timer = RuntimeMetrics.peerRoundTripTimer(peer)
        roundTripTimers[peer] = timer
        return timer
    }

    // MARK: Helpers

    var isLeader: Bool { observed.role == .leader }

    /// The core's status (nil before the node runs).
    var coreStatus: Status? { core?.status }

    static func randomNonZero() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        while true {
            let value = generator.next()
            if value != 0 { return value }
        }
    }

    /// The encoded book restricted to the members of `membership`, plus one extra member.
    func context(for membership: Membership, adding extra: (NodeID, MemberAddress)? = nil) -> [UInt8] {
        var restricted = book.restricted(to: membership.members)
        if let (id, address) = extra { restricted.set(id, address) }
        return restricted.encoded()
    }
}
