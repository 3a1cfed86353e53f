import KVStore
import RaftCore

/// The state machine a simulated node runs: the shipped `KVStore`, driven through
/// `ReplicatedStateMachine` exactly as the node drives it, with a `DigestStateMachine` chained
/// beside it so the checkers can compare applied histories. Its snapshot carries both.
///
/// Invariant: `store.appliedIndex == digest.appliedIndex` once anything was applied or restored.
public struct CheckedStateMachine: ReplicatedStateMachine, Equatable {
    public private(set) var store: KVStore
    public private(set) var digest: DigestStateMachine

    public init() {
        store = KVStore()
        digest = DigestStateMachine()
    }

    /// Restores both halves; the digest's 32 bytes come first.
    public init(snapshot bytes: [UInt8]) throws(SimulationError) {
        let header = DigestStateMachine.snapshotBytesCount
        guard bytes.count >= header else { throw .badSnapshot("\(bytes.count) bytes, shorter than the digest") }
        digest = try DigestStateMachine(snapshot: Array(bytes[..<header]))
        do {
            store = try KVStore(snapshot: Array(bytes[header...]))
        } catch {
            throw .badSnapshot("the key-value store's bytes: \(error)")
        }
        guard store.appliedIndex == digest.appliedIndex else {
            throw .badSnapshot("the store is at \(store.appliedIndex), the digest at \(digest.appliedIndex)")
        }
    }

    public var appliedIndex: LogIndex { digest.appliedIndex }
    public var appliedTerm: Term { digest.appliedTerm }

    /// Applies the entry to both halves; returns the store's answer.
    public mutating func apply(_ entry: Entry) -> (ClientRequestID, KVResult)? {
        digest.apply(entry)
        let result = store.apply(entry)
        precondition(
            store.appliedIndex == digest.appliedIndex,
            "CheckedStateMachine: the store and the digest apply the same entries")
        return result
    }

    public func snapshot() -> [UInt8] {
        digest.snapshot() + store.snapshot()
    }
}
