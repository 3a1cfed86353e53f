import GRPCCore
import WRaftAPI

/// etcd's gRPC errors: the status codes and messages etcd answers with, so that etcd's clients
/// retry (or give up) as they do against etcd. Every `NodeError` is mapped here, in one place.
enum EtcdError {
    static let keyNotProvided = RPCError(code: .invalidArgument, message: "etcdserver: key is not provided")
    static let keyNotFound = RPCError(code: .invalidArgument, message: "etcdserver: key not found")
    static let tooManyOperations = RPCError(
        code: .invalidArgument, message: "etcdserver: too many operations in txn request")
    static let duplicateKey = RPCError(code: .invalidArgument, message: "etcdserver: duplicate key given in txn request")
    static let requestTooLarge = RPCError(code: .invalidArgument, message: "etcdserver: request is too large")
    static let compacted = RPCError(code: .outOfRange, message: "etcdserver: mvcc: required revision has been compacted")
    static let futureRevision = RPCError(
        code: .outOfRange, message: "etcdserver: mvcc: required revision is a future revision")
    static let leaseNotFound = RPCError(code: .notFound, message: "etcdserver: requested lease not found")
    static let leaseExists = RPCError(code: .failedPrecondition, message: "etcdserver: lease already exists")
    static let leaseTTLTooLarge = RPCError(code: .outOfRange, message: "etcdserver: too large lease TTL")
    static let noLeader = RPCError(code: .unavailable, message: "etcdserver: no leader")
    static let tooManyRequests = RPCError(code: .unavailable, message: "etcdserver: too many requests")
    static let timedOut = RPCError(code: .unavailable, message: "etcdserver: request timed out")
    static let noSpace = RPCError(code: .resourceExhausted, message: "etcdserver: mvcc: database space exceeded")
    static let memberNotFound = RPCError(code: .notFound, message: "etcdserver: member not found")

    /// An argument outside its range: `INVALID_ARGUMENT` with etcd's prefix.
    static func invalid(_ message: String) -> RPCError {
        RPCError(code: .invalidArgument, message: "etcdserver: \(message)")
    }

    /// The gRPC error of a node error.
    static func rpcError(_ error: NodeError) -> RPCError {
        switch error {
        case .noLeader: return noLeader
        case .overloaded: return tooManyRequests
        case .unknownOutcome: return timedOut
        case .quotaExceeded: return noSpace
        case .valueTooLarge: return requestTooLarge
        case .badRequest(_, let message): return invalid(message)
        case .notFound(let message): return RPCError(code: .notFound, message: "etcdserver: \(message)")
        case .compareFailed(let message): return RPCError(code: .failedPrecondition, message: "etcdserver: \(message)")
        case .clusterConflict(let message): return RPCError(code: .failedPrecondition, message: "etcdserver: \(message)")
        case .wrongState(_, let message): return RPCError(code: .unavailable, message: "etcdserver: \(message)")
        case .faultsDisabled: return RPCError(code: .permissionDenied, message: "etcdserver: \(error.message)")
        case .peerUnreachable(let message): return RPCError(code: .unavailable, message: "etcdserver: \(message)")
        case .internalError(let message): return RPCError(code: .internalError, message: "etcdserver: \(message)")
        case .refused(let code, let message):
            switch code {
            case .leaseNotFound: return leaseNotFound
            case .leaseExists: return leaseExists
            case .compacted: return compacted
            case .futureRevision: return futureRevision
            case .duplicateKey: return duplicateKey
            case .tooManyLeases: return RPCError(code: .resourceExhausted, message: "etcdserver: too many leases")
            default: return invalid(message)
            }
        }
    }

    /// Runs a node call, mapping its error.
    static func call<T: Sendable>(_ body: () async throws(NodeError) -> T) async throws(RPCError) -> T {
        do throws(NodeError) {
            return try await body()
        } catch {
            throw rpcError(error)
        }
    }
}
