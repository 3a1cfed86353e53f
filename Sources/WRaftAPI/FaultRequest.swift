/// A fault of `POST /op/{name}`, with its arguments. `Member` names a member: the client's member
/// id as text, the node's checked `NodeID`. One definition for both sides, so a fault added on
/// one is known to the other.
public enum FaultRequest<Member: Sendable & Equatable>: Sendable, Equatable {
    case pause
    case resume
    /// Drop raft traffic to and from these members (nil: every peer).
    case isolate(peers: [Member]?)
    case delay(ms: Int, jitterMs: Int)
    case drop(rate: Double)
    case heal
    case crash
    case stepDown
    case transfer(to: Member)
    case snapshot
    /// Stop ticking (timers stand still; messages still flow) until `release`.
    case freeze
    case release

    /// The fault's name: the path component under `/op/`.
    public var name: FaultName {
        switch self {
        case .pause: .pause
        case .resume: .resume
        case .isolate: .isolate
        case .delay: .delay
        case .drop: .drop
        case .heal: .heal
        case .crash: .crash
        case .stepDown: .stepDown
        case .transfer: .transfer
        case .snapshot: .snapshot
        case .freeze: .freeze
        case .release: .release
        }
    }
}
