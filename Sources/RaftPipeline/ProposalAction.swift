import RaftCore

/// Names one client write in a `ProposalQueue` (the executor's own sequence number).
public struct ProposalID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (lhs: ProposalID, rhs: ProposalID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "p\(rawValue)" }
}

/// Commands to hand over together, in this order, with the writes they belong to.
public struct ProposalBatch: Equatable, Sendable {
    public let ids: [ProposalID]
    public let commands: [[UInt8]]

    init(ids: [ProposalID], commands: [[UInt8]]) {
        precondition(ids.count == commands.count && !ids.isEmpty, "ProposalBatch: one command per write, at least one")
        self.ids = ids
        self.commands = commands
    }

    public var count: Int { ids.count }
}

/// Why a write was answered "not applied" (HTTP 503): in both cases no copy of it was ever
/// handed to a core or a leader, so none can reach a log.
public enum NotAppliedReason: Equatable, Sendable {
    /// The core refused it as overloaded the first time it was handed over.
    case overloaded
    /// Its deadline passed before any leader took it.
    case noLeader
}

/// What a client is told about its write.
public enum ProposalOutcome: Equatable, Sendable {
    /// Definitely not applied, and never will be (503): allowed only for a write no core or
    /// leader ever took.
    case notApplied(NotAppliedReason)
    /// Handed to a leader at least once and not seen applied by its deadline: it may or may not
    /// be applied, now or later (504).
    case unknown
}

/// What the executor of a `ProposalQueue` does next, in the order given.
public enum ProposalAction: Equatable, Sendable {
    /// Propose these commands to the local core in one call (`RaftNode.propose(commands:)`),
    /// then report the answer with `ProposalQueue.proposed(_:refusal:now:)` before anything else.
    case propose(ProposalBatch)
    /// Send these commands to `leader` in `propose` messages of term `term` (nothing answers:
    /// the applied entry, or the stall retry, is the answer).
    case forward(ProposalBatch, to: NodeID, term: Term)
    /// The core refused these writes (for metrics and traces); any answer follows separately.
    case refused([ProposalID], ProposalError)
    /// Answer this write's client (the write is no longer held).
    case answer(ProposalID, ProposalOutcome)
}
