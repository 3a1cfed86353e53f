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
