import RaftCore
import WRaftSupport

/// The simulated nodes' state machine: it remembers how many entries it applied and a hash chain
/// over every applied entry (term, index, kind, data), so two replicas agree exactly when their
/// applied histories are equal. That is the strongest thing State Machine Safety can compare,
/// and it costs 32 bytes of snapshot.
public struct DigestStateMachine: ReplicatedStateMachine, Equatable {
    /// Invariant: `digest` is the chain over entries 1...`appliedIndex` (or restored from a
    /// snapshot that was).
    public private(set) var appliedIndex: LogIndex = .zero
    public private(set) var appliedTerm: Term = .zero
    public private(set) var digest: UInt64 = DigestStateMachine.emptyDigest
    /// How many `.command` entries were applied.
    public private(set) var commandCount: UInt64 = 0

    /// The digest of the empty history.
    public static let emptyDigest: UInt64 = 0xCBF2_9CE4_8422_2325

    /// The size of `snapshot()`'s bytes.
    public static let snapshotBytesCount = 32

    public init() {}

    /// Restores the state a `snapshot()` captured.
    public init(snapshot bytes: [UInt8]) throws(SimulationError) {
        guard bytes.count == DigestStateMachine.snapshotBytesCount else {
            throw .badSnapshot("expected \(DigestStateMachine.snapshotBytesCount) bytes, got \(bytes.count)")
        }
        appliedIndex = LogIndex(Self.readWord(bytes, at: 0))
        appliedTerm = Term(Self.readWord(bytes, at: 8))
        digest = Self.readWord(bytes, at: 16)
        commandCount = Self.readWord(bytes, at: 24)
    }

    /// Applies the next entry. The runtime checks contiguity first and records a violation
    /// instead of calling this when it does not hold.
    public mutating func apply(_ entry: Entry) {
        precondition(entry.index == appliedIndex.next, "DigestStateMachine: entries are applied contiguously")
        digest = Self.chain(digest, entry)
        appliedIndex = entry.index
        appliedTerm = entry.term
        if entry.kind == .command { commandCount += 1 }
    }

    /// The state as bytes (four little-endian words).
    public func snapshot() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.snapshotBytesCount)
        for word in [appliedIndex.rawValue, appliedTerm.rawValue, digest, commandCount] {
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return bytes
    }

    /// The digest after applying `entry` on top of `digest`.
    public static func chain(_ digest: UInt64, _ entry: Entry) -> UInt64 {
        SplitMix64.mixed(digest ^ fingerprint(of: entry))
    }

    /// A 64-bit fingerprint of an entry's term, index, kind and data (FNV-1a).
    public static func fingerprint(of entry: Entry) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        for word in [entry.term.rawValue, entry.index.rawValue] {
            for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        mix(entry.kind.rawValue)
        for byte in entry.data { mix(byte) }
        return hash
    }

    private static func readWord(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var word: UInt64 = 0
        for position in 0..<8 { word |= UInt64(bytes[offset + position]) << UInt64(8 * position) }
        return word
    }
}

/// What the simulator reports about the world it was handed (never a Raft bug: those are
/// `SafetyViolation`s).
public enum SimulationError: Error, Equatable, Sendable {
    case badSnapshot(String)
    case unknownNode(NodeID)
    case nodeDown(NodeID)
}
