import RaftCore

/// The key-value store is the state machine the node replicates: `apply(_:)` answers a
/// command's client with its request id and result; `snapshot()` and `init(snapshot:)` carry
/// the whole store.
extension KVStore: ReplicatedStateMachine {}
