import WRaftAPI

/// The faults of `POST /op/...`, acting on the node addressed.
public enum Fault: Sendable, Equatable {
    case pause
    case resume
    /// Drop raft traffic to and from these member ids (nil: every peer).
    case isolate(peers: [String]?)
    case delay(ms: Int, jitterMs: Int)
    case drop(rate: Double)
    case heal
    case crash
    case stepDown
    case transfer(to: String)
    case snapshot

    /// The fault's name, the path component under `/op/`.
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
        }
    }
}
