/// A Raft term: a logical clock that only moves forward. Terms start at 1; `Term.zero` means
/// "no term yet" (an empty log, a fresh node).
public struct Term: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    public static let zero = Term(0)

    /// The term after this one.
    public var next: Term { Term(rawValue + 1) }

    public static func < (lhs: Term, rhs: Term) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

/// A position in the replicated log. The first entry has index 1; `LogIndex.zero` is the
/// position "before the first entry". An index is a position, never a count.
public struct LogIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    public static let zero = LogIndex(0)

    /// The index after this one.
    public var next: LogIndex { LogIndex(rawValue + 1) }
    /// The index before this one. Precondition: this is not `zero`.
    public var previous: LogIndex {
        precondition(rawValue > 0, "LogIndex.previous: there is no index before zero")
        return LogIndex(rawValue - 1)
    }

    public static func + (lhs: LogIndex, rhs: UInt64) -> LogIndex { LogIndex(lhs.rawValue + rhs) }
    /// `lhs - rhs`, floored at zero.
    public static func - (lhs: LogIndex, rhs: UInt64) -> LogIndex {
        LogIndex(lhs.rawValue >= rhs ? lhs.rawValue - rhs : 0)
    }
    /// The number of positions from `self` up to `other` (zero when `other <= self`).
    public func distance(to other: LogIndex) -> UInt64 {
        other.rawValue > rawValue ? other.rawValue - rawValue : 0
    }

    public static func < (lhs: LogIndex, rhs: LogIndex) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

// MARK: - Bounds on terms and indices from outside

/// ## Terms and indices from the wire and the disk are bounded
///
/// A term or index read from a peer's message or from a file is outside input. Two rules keep
/// any such number from costing the cluster its liveness or the node its process:
///
/// 1. **Nothing above `wireMax`.** `Term.wireMax` and `LogIndex.wireMax` are 2^48. RaftCodec
///    refuses to decode a larger term or index anywhere (message header, vote, append and its
///    entries, rejection hints, commit indices, snapshot metadata, hard state), so a forged term
///    of 2^63-1 is a `CodecError`, and recovery reports a file holding one as corrupt. The core
///    drops a message above the bound too (in case it was built by other means) and refuses a
///    persisted state above it. 2^48 is centuries of use: 2.8e14 elections, or writes at a
///    million a second for nine years. Arithmetic on bounded values (`next`, `+ count`, where a
///    count is a u32) stays 2^15 times below `UInt64.max`, so it cannot trap.
/// 2. **No unsolicited leap of more than `Term.adoptionStepMax`.** A message may raise a node's
///    term by at most 2^32 at once; one from further ahead is dropped, unless it answers the
///    node's own request (a vote while it campaigns, an append or heartbeat answer while it
///    leads). So a forged heartbeat, vote request or append can no longer take a cluster to the
///    last term in one frame (issue 8, finding 2): accepting it leaves at least
///    2^48 - 2^32 - (current term) further elections. An honest node is never that far behind
///    (its peers would have held 4 billion elections while it was away); if a forged leap did
///    push the others ahead, the answers to its own next campaign bring it up to date.
///    A node whose own term reached `wireMax` stops campaigning rather than send a term no
///    peer would decode.
///
/// What the bounds do not do: a forger who can keep sending (or who times a forged answer to a
/// node's request) can still walk terms up or keep a node from electing. Keeping strangers'
/// frames out, and binding member ids to certificates, is the transport's job (mutual TLS); the
/// bounds make what gets through cost at most room that lasts, never the process.
extension Term {
    /// The largest term any encoding carries (see "Terms and indices from the wire and the disk
    /// are bounded" above).
    public static let wireMax = Term(1 << 48)
    /// The most one message may raise a node's term.
    public static let adoptionStepMax: UInt64 = 1 << 32
}

extension LogIndex {
    /// The largest index any encoding carries (see `Term.wireMax`).
    public static let wireMax = LogIndex(1 << 48)
}

/// The identity of a cluster member: a random 64-bit number made once per node and persisted
/// in its data dir. Shown as 16 lowercase hex digits.
public struct NodeID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// Parses the 16-hex-digit form produced by `description` (any length 1...16 is accepted).
    public init?(hex: some StringProtocol) {
        guard (1...16).contains(hex.count), let value = UInt64(hex, radix: 16) else { return nil }
        self.rawValue = value
    }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        let digits = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
