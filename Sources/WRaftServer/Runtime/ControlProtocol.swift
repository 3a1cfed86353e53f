import Foundation
import RaftCore
import RaftStorage
import WRaftAPI
import WRaftCertificates

// The cluster-formation RPC that nodes exchange over their raft ports (the transport's control
// frames), JSON-encoded: it is rare, small, and readable in a packet capture.

/// One member as the control protocol carries it (ids as 16 hex digits). Untrusted until
/// `AddressBook(records:)` validated it.
package struct MemberRecord: Codable, Sendable, Equatable {
    var id: String
    var raftAddress: String
    var httpAddress: String
    /// The member's public-key fingerprint (64 hex digits) in a TLS cluster; absent in plaintext
    /// ones (and from nodes that predate TLS).
    var publicKeyFingerprint: String?
    /// The member's etcd port (`host:port`) when it serves one; absent otherwise (and from nodes
    /// that predate it, whose decoders ignore it).
    var etcdAddress: String?

    init(id: String, raftAddress: String, httpAddress: String, publicKeyFingerprint: String? = nil, etcdAddress: String? = nil) {
        self.id = id
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
        self.publicKeyFingerprint = publicKeyFingerprint
        self.etcdAddress = etcdAddress
    }

    /// The record's id and address, or why it is refused: id nonzero (16 hex digits), both
    /// addresses `host:port` of sane syntax and length (`MemberAddressSyntax`), the fingerprint
    /// 64 hex digits when present.
    func validated() throws(ControlDecodingError) -> (NodeID, MemberAddress) {
        guard id.utf8.count <= 16, let nodeID = NodeID(hex: id), nodeID.rawValue != 0 else {
            throw ControlDecodingError(description: "bad member id \(id.prefix(32))")
        }
        for address in [raftAddress, httpAddress] + (etcdAddress.map { [$0] } ?? []) {
            if let problem = MemberAddressSyntax.problem(with: address) {
                throw ControlDecodingError(description: "member \(id): \(problem.prefix(300))")
            }
        }
        var fingerprint: PublicKeyFingerprint?
        if let text = publicKeyFingerprint {
            guard let parsed = PublicKeyFingerprint(hex: text) else {
                throw ControlDecodingError(description: "member \(id): the public-key fingerprint is not 64 hex digits")
            }
            fingerprint = parsed
        }
        return (
            nodeID,
            MemberAddress(raftAddress: raftAddress, httpAddress: httpAddress, fingerprint: fingerprint, etcdAddress: etcdAddress)
        )
    }
}

extension MemberRecord {
    /// The record of member `id` at `address`.
    init(member id: NodeID, _ address: MemberAddress) {
        self.init(
            id: id.description, raftAddress: address.raftAddress, httpAddress: address.httpAddress,
            publicKeyFingerprint: address.fingerprint?.hex, etcdAddress: address.etcdAddress)
    }
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
    /// `/members/promote` forwarded to the leader. (A node older than this case answers it
    /// `bad_request`: its decoder names the unknown case, and the caller reports that.)
    case promoteMember(id: String, timeoutMs: Int, isForwarded: Bool)
    /// `/op/transfer` forwarded to the leader.
    case transferLeadership(to: String, isForwarded: Bool)
    /// A lease's time to live, asked of the leader (it alone keeps lease deadlines); with
    /// `renew`, a keep-alive.
    case lease(id: Int64, renew: Bool, timeoutMs: Int, isForwarded: Bool)
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
    /// A lease as its leader sees it.
    case lease(ttlSeconds: Int64, remainingMs: Int64, keys: [String])
}

/// A `NodeError` that crossed the wire: its code, message, and numbers; `nodeError` is the
/// same error again on the receiving side (`NodeError.init(code:message:retryAfterMs:sizes:)`).
package struct ControlFailure: Codable, Sendable, Equatable {
    /// The `ErrorCode`'s wire string; a wrong-state code with the prefix `wrong_state:` (as
    /// nodes have always sent it). A string is kept, not an `ErrorCode`, so that a code this
    /// node does not know still decodes (and becomes a 500).
    var code: String
    var message: String
    var retryAfterMs: Int?
    /// The sizes of `value_too_large` and `quota_exceeded`.
    var bytes: Int?
    var limit: Int?

    private static let wrongStatePrefix = "wrong_state:"

    init(_ error: NodeError) {
        if case .wrongState(let code, _) = error {
            self.code = Self.wrongStatePrefix + code.wireString
        } else {
            self.code = error.code.wireString
        }
        message = error.message
        retryAfterMs = error.retryAfterMs
        bytes = error.sizes?.bytes
        limit = error.sizes?.limit
    }

    /// The error this failure stands for on the receiving side.
    var nodeError: NodeError {
        let wireCode = code.hasPrefix(Self.wrongStatePrefix) ? String(code.dropFirst(Self.wrongStatePrefix.count)) : code
        guard let known = ErrorCode(rawValue: wireCode) else {
            return .internalError(message: "a peer answered \(wireCode.prefix(40)): \(message.prefix(300))")
        }
        let sizes = bytes.flatMap { bytes in limit.map { (bytes: bytes, limit: $0) } }
        return NodeError(code: known, message: message, retryAfterMs: retryAfterMs, sizes: sizes)
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
            self[id].map { MemberRecord(member: id, $0) }
        }
    }

    /// A book from untrusted records; a record that fails `MemberRecord.validated()` refuses the
    /// whole list.
    package init(records: [MemberRecord]) throws(ControlDecodingError) {
        guard records.count <= Self.membersMax else {
            throw ControlDecodingError(description: "\(records.count) members exceed \(Self.membersMax)")
        }
        var book = AddressBook()
        for record in records {
            let (id, address) = try record.validated()
            book.set(id, address)
        }
        self = book
    }
}

/// Cluster ids are shown and carried as 16 hex digits, like node ids.
enum ClusterIDFormat {
    static func string(_ clusterID: UInt64) -> String { NodeID(clusterID).description }
    static func parse(_ string: String) -> UInt64? { NodeID(hex: string)?.rawValue }
}
