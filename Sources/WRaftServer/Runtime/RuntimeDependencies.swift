import RaftCore
import RaftStorage
import RaftTransport
import WRaftCertificates

// The runtime talks to its durable store and to its peers through these two small protocols:
// `runNode` plugs in RaftStorage's `DurableStorage` and RaftTransport's `PeerTransport`; the
// runtime tests plug in an in-memory store and network as well, to drive whole clusters
// deterministically and fast.

/// The time the runtime runs on: its tick loop, request deadlines, the retry of stalled requests,
/// `lastContact` and control timeouts. A real node passes `SystemClock`; runtime tests pass a
/// manual clock, so that "ten election timeouts pass" takes no real time and happens exactly.
///
/// Instants are `ContinuousClock.Instant` because that is what deadlines are written in
/// everywhere else (the HTTP layer, `NodeService`); a manual clock starts at the real now and
/// moves only when told.
protocol RuntimeClock: Sendable {
    /// The current instant of this clock.
    var now: ContinuousClock.Instant { get }
    /// Returns once `deadline` has been reached on this clock; throws when the task is cancelled.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

extension RuntimeClock {
    /// Sleeps for `duration` of this clock's time.
    func sleep(for duration: Duration) async throws {
        try await sleep(until: now + duration)
    }
}

/// The real, monotonic clock.
struct SystemClock: RuntimeClock {
    var now: ContinuousClock.Instant { ContinuousClock.now }

    func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await ContinuousClock().sleep(until: deadline, tolerance: nil)
    }
}

/// A failure of the durable store. The runtime treats it as fatal for Raft (after a failed fsync
/// nothing that follows can be promised): it stops taking part and reports it.
struct NodeStorageError: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// The node's durable store: the Raft log, hard state, snapshots and identity. Every call may
/// block on the disk, so implementations run off the runtime actor (their own thread).
protocol NodeStorage: Sendable {
    /// Everything a previous run made durable.
    func recover() async throws(NodeStorageError) -> PersistentState
    /// Appends `entries` (replacing a stored suffix from the first one's index), records the hard
    /// state and an installed snapshot's marker, with one fsync.
    func persist(hardState: HardState?, entries: [Entry], snapshot: SnapshotMetadata?) async throws(NodeStorageError)
    /// Writes a snapshot atomically (and drops log segments it covers).
    func saveSnapshot(_ metadata: SnapshotMetadata, data: [UInt8]) async throws(NodeStorageError)
    /// The newest valid snapshot, if any.
    func latestSnapshot() async throws(NodeStorageError) -> (SnapshotMetadata, [UInt8])?
    func loadIdentity() async throws(NodeStorageError) -> NodeIdentity?
    func saveIdentity(_ identity: NodeIdentity) async throws(NodeStorageError)
}

/// A failed control call.
struct ControlCallError: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// The peer-to-peer network of one node.
protocol NodeTransport: Sendable {
    /// Frames of other clusters are refused once this is set (0: not known yet).
    func setClusterID(_ clusterID: UInt64)
    /// Where a peer's raft port is and the key it proves itself with; nil forgets it. Only
    /// peers set here are heard (under TLS, only on connections proving that key).
    func setPeer(_ id: NodeID, _ member: MemberAddress?)
    /// Queues messages for their peers without waiting; a full queue drops (Raft retries).
    func send(_ messages: [Message])
    /// Streams a snapshot with its `installSnapshot` message; false when it did not arrive whole.
    func sendSnapshot(_ message: Message, data: [UInt8]) async -> Bool
    /// Hands every message from peers (RaftTransport's `Incoming`: a message, or an
    /// `installSnapshot` with the snapshot's bytes) to `body`, in arrival order per peer, one at
    /// a time; returns when the transport shuts down.
    func forEachIncoming(_ body: @escaping @Sendable (Incoming) async -> Void) async
    /// Answers control requests from other nodes (cluster formation, forwarding); the handler
    /// learns the key the requester's connection proved (nil in plaintext).
    func setControlHandler(_ handler: @escaping @Sendable ([UInt8], PublicKeyFingerprint?) async -> [UInt8])
    /// A control request to any raft address, bounded by `timeout`.
    func call(address: String, request: [UInt8], timeout: Duration) async throws(ControlCallError) -> [UInt8]
    /// Closes every connection and the listener.
    func shutdown() async
}
