import Foundation
import RaftCore

// The cluster-formation RPC that nodes exchange over their raft ports (the transport's control
// frames), JSON-encoded: it is rare, small, and readable in a packet capture.

/// One member as the control protocol carries it (ids as 16 hex digits).
package struct MemberRecord: Codable, Sendable, Equatable {
    var id: String
    var raftAddress: String
    var httpAddress: String
}

/// A request from one node to another's raft port.
package enum ControlRequest: Codable, Sendable, Equatable {
    /// `/connect` between two `initial` nodes: the sender's member list, to merge. The receiver
    /// answers with the merged list (`.members`) or, when it is running, with `.running`.
    case merge(members: [MemberRecord])
    /// `/start`: persist the bootstrap state made from these members (all voters) and run.
    case start(clusterID: String, members: [MemberRecord])
    /// An empty `initial` node asks a running member to add it (the member forwards to its
    /// leader; a forwarded request, `isForwarded`, is not forwarded again).
    case join(member: MemberRecord, timeoutMs: Int, isForwarded: Bool)
    /// A running node asks an `initial` node to join its cluster through `raftAddress`
    /// (`/connect` from a running node to an empty one).
    case invite(raftAddress: String, timeoutMs: Int)
    /// `/members/remove` forwarded to the leader.
    case removeMember(id: String, timeoutMs: Int, isForwarded: Bool)
    /// `/op/transfer` forwarded to the leader.
    case transferLeadership(to: String, isForwarded: Bool)
}

/// The answer to a `ControlRequest`.
package enum ControlResponse: Codable, Sendable, Equatable {
    /// The merged member list (the receiver is `initial`).
    case members([MemberRecord])
    /// The receiver is running in this cluster.
    case running(clusterID: String, members: [MemberRecord])
    /// The request was carried out.
    case done
    /// The sender joined: the cluster id and the members (the sender included).
    case joined(clusterID: String, members: [MemberRecord])
    /// The request failed; the `NodeError` it maps to.
    case failure(ControlFailure)
}

/// A `NodeError` that crossed the wire.
package struct ControlFailure: Codable, Sendable, Equatable {
    var code: String
    var message: String
    var retryAfterMs: Int?

    init(_ error: NodeError) {
        switch error {
        case .badRequest(let code, let message): self.init(code: code, message: message)
        case .valueTooLarge(let bytes, let limit): self.init(code: "value_too_large", message: "\(bytes) > \(limit)")
        case .notFound(let message): self.init(code: "not_found", message: message)
        case .compareFailed(let message): self.init(code: "compare_failed", message: message)
        case .clusterConflict(let message): self.init(code: "cluster_conflict", message: message)
        case .wrongState(let code, let message): self.init(code: "wrong_state:" + code, message: message)
        case .noLeader(let retryAfterMs): self.init(code: "no_leader", message: "no leader", retryAfterMs: retryAfterMs)
        case .overloaded(let retryAfterMs):
            self.init(code: "overloaded", message: "overloaded", retryAfterMs: retryAfterMs)
        case .unknownOutcome(let message): self.init(code: "unknown_outcome", message: message)
        case .faultsDisabled: self.init(code: "faults_disabled", message: "faults disabled")
        case .peerUnreachable(let message): self.init(code: "peer_unreachable", message: message)
        case .internalError(let message): self.init(code: "internal", message: message)
        }
    }

    init(code: String, message: String, retryAfterMs: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterMs = retryAfterMs
    }

    /// The error this failure stands for on the receiving side.
    var nodeError: NodeError {
        switch code {
        case "value_too_large": return .badRequest(code: code, message: message)
        case "not_found": return .notFound(message: message)
        case "compare_failed": return .compareFailed(message: message)
        case "cluster_conflict": return .clusterConflict(message: message)
        case "no_leader": return .noLeader(retryAfterMs: retryAfterMs ?? 500)
        case "overloaded": return .overloaded(retryAfterMs: retryAfterMs ?? 500)
        case "unknown_outcome": return .unknownOutcome(message: message)
        case "faults_disabled": return .faultsDisabled
        case "peer_unreachable": return .peerUnreachable(message: message)
        case "internal": return .internalError(message: message)
        default:
            if code.hasPrefix("wrong_state:") {
                return .wrongState(code: String(code.dropFirst("wrong_state:".count)), message: message)
            }
            return .badRequest(code: code, message: message)
        }
    }
}

/// A control message that could not be decoded.
package struct ControlDecodingError: Error, CustomStringConvertible {
    package var description: String
}

package enum ControlCoding {
    /// The most bytes a control message may take (a member list of `AddressBook.membersMax`).
    static let messageBytesMax = 1 << 20

    package static func encode(_ value: some Encodable) -> [UInt8] {
        // Encoding these plain Codable values cannot fail; an empty answer is refused by the
        // decoder on the other side, which is the defined behaviour if it ever did.
        (try? JSONEncoder().encode(value)).map { Array($0) } ?? []
    }

    package static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(ControlDecodingError) -> T {
        guard bytes.count <= messageBytesMax else {
            throw ControlDecodingError(description: "control message of \(bytes.count) bytes exceeds \(messageBytesMax)")
        }
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw ControlDecodingError(description: "bad control message: \(error)")
        }
    }
}

extension AddressBook {
    /// The book as control records, sorted by id.
    package var records: [MemberRecord] {
        ids.compactMap { id in
            self[id].map { MemberRecord(id: id.description, raftAddress: $0.raftAddress, httpAddress: $0.httpAddress) }
        }
    }

    /// A book from untrusted records; records with a bad id or an address over
    /// `addressBytesMax` bytes are refused.
    package init(records: [MemberRecord]) throws(ControlDecodingError) {
        guard records.count <= Self.membersMax else {
            throw ControlDecodingError(description: "\(records.count) members exceed \(Self.membersMax)")
        }
        var book = AddressBook()
        for record in records {
            guard let id = NodeID(hex: record.id), id.rawValue != 0 else {
                throw ControlDecodingError(description: "bad member id \(record.id)")
            }
            // The book becomes a membership entry's context, whose decoder bounds every address:
            // a longer one would make that entry unreadable on every node.
            guard record.raftAddress.utf8.count <= Self.addressBytesMax, record.httpAddress.utf8.count <= Self.addressBytesMax
            else {
                throw ControlDecodingError(description: "member \(record.id): an address exceeds \(Self.addressBytesMax) bytes")
            }
            book.set(id, MemberAddress(raftAddress: record.raftAddress, httpAddress: record.httpAddress))
        }
        self = book
    }
}

/// Cluster ids are shown and carried as 16 hex digits, like node ids.
enum ClusterIDFormat {
    static func string(_ clusterID: UInt64) -> String { NodeID(clusterID).description }
    static func parse(_ string: String) -> UInt64? { NodeID(hex: string)?.rawValue }
}
