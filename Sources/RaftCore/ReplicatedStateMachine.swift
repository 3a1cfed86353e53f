/// The state machine Raft replicates (hashicorp/raft's FSM): committed entries go in, in index
/// order, each once; a snapshot captures the whole state as bytes and restores it elsewhere.
/// Deterministic: replicas that applied the same entries hold the same state. No I/O, no time.
///
/// The node's runtime and the simulator drive their state machine only through this.
public protocol ReplicatedStateMachine: Sendable {
    /// What applying one entry answers (to the client waiting for it, if any).
    associatedtype ApplyResult
    /// Why snapshot bytes were refused.
    associatedtype RestoreError: Error

    /// The state before any entry.
    init()
    /// The state a `snapshot()` captured. Throws when the bytes are not such a capture.
    init(snapshot bytes: [UInt8]) throws(RestoreError)

    /// The index of the last entry applied (or of the snapshot restored).
    var appliedIndex: LogIndex { get }
    /// Applies the next committed entry (`.noop` and `.membership` entries too: their index
    /// counts as applied).
    mutating func apply(_ entry: Entry) -> ApplyResult
    /// The whole state as bytes, as of `appliedIndex`.
    func snapshot() -> [UInt8]
}
