import WRaftCertificates

/// Where one member listens, its raft port (peers) and its HTTP port (clients), and, in a TLS
/// cluster, the public key it proves itself with: a frame claiming to come from this member is
/// accepted only on a connection authenticated with that key.
///
/// The one value for a member's addresses, keyed by the member's id wherever it is kept: the
/// runtime's address book (and through it the membership entries' context), the transport's
/// admitted peers, and the data dir's identity file (`NodeIdentity.peers`). Whether a member
/// votes is not kept here: the configuration in force (`RaftCore.Membership`) says so.
public struct MemberAddress: Sendable, Equatable, Hashable {
    /// `host:port` of the raft port.
    public var raftAddress: String
    /// `host:port` of the HTTP port.
    public var httpAddress: String
    /// The SHA-256 of the member's certificate's public key; nil in a plaintext cluster.
    public var fingerprint: PublicKeyFingerprint?
    /// `host:port` of the member's etcd gRPC port (`--etcd-port`), as it announced it when it
    /// joined; nil when it serves none (or predates it). Not pinned: informational (etcd's
    /// `MemberList` client URLs).
    public var etcdAddress: String?

    public init(raftAddress: String, httpAddress: String, fingerprint: PublicKeyFingerprint? = nil, etcdAddress: String? = nil) {
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
        self.fingerprint = fingerprint
        self.etcdAddress = etcdAddress
    }

    /// Whether both listen at the same addresses (whatever their keys).
    public func hasSameAddresses(as other: MemberAddress) -> Bool {
        raftAddress == other.raftAddress && httpAddress == other.httpAddress
    }
}
