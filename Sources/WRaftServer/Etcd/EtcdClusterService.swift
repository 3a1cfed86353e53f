import GRPCCore
import RaftCore
import WRaftAPI
import WRaftEtcd

/// etcd's Cluster service: the member list, and removal through the node's membership change.
/// A WRaft member joins by contacting the cluster itself (`POST /connect` on the new node), so
/// MemberAdd answers how. MemberPromote is the node's own promotion (`POST /members/promote`).
struct EtcdClusterService: Etcdserverpb_Cluster.SimpleServiceProtocol {
    let etcd: EtcdContext

    func memberAdd(request: Etcdserverpb_MemberAddRequest, context: ServerContext) async throws
        -> Etcdserverpb_MemberAddResponse
    {
        throw RPCError(
            code: .failedPrecondition,
            message: "etcdserver: WRaft members join by themselves: start the new node and connect it to a member "
                + "(POST /connect on its HTTP port); MemberAdd is not served")
    }

    func memberRemove(request: Etcdserverpb_MemberRemoveRequest, context: ServerContext) async throws
        -> Etcdserverpb_MemberRemoveResponse
    {
        guard request.id != 0 else { throw EtcdError.memberNotFound }
        let deadline = etcd.deadline
        let node = etcd.node
        do throws(NodeError) {
            try await node.removeMember(NodeID(request.id), deadline: deadline)
        } catch {
            if case .notFound = error { throw EtcdError.memberNotFound }
            throw EtcdError.rpcError(error)
        }
        let status = await node.memberStatus()
        var response = Etcdserverpb_MemberRemoveResponse()
        response.header = EtcdContext.header(status.headerNumbers)
        response.members = members(status)
        return response
    }

    func memberList(request: Etcdserverpb_MemberListRequest, context: ServerContext) async throws
        -> Etcdserverpb_MemberListResponse
    {
        let status = await etcd.node.memberStatus()
        var response = Etcdserverpb_MemberListResponse()
        response.header = EtcdContext.header(status.headerNumbers)
        response.members = members(status)
        return response
    }

    func memberPromote(request: Etcdserverpb_MemberPromoteRequest, context: ServerContext) async throws
        -> Etcdserverpb_MemberPromoteResponse
    {
        guard request.id != 0 else { throw EtcdError.memberNotFound }
        let deadline = etcd.deadline
        let node = etcd.node
        do throws(NodeError) {
            try await node.promoteMember(NodeID(request.id), deadline: deadline)
        } catch {
            switch error {
            case .notFound: throw EtcdError.memberNotFound
            // etcd's own messages, which its clients and etcdctl show as they are.
            case .refused(code: .notLearner, _):
                throw RPCError(code: .failedPrecondition, message: "etcdserver: can only promote a learner member")
            case .refused(code: .learnerNotReady, _):
                throw RPCError(
                    code: .failedPrecondition,
                    message: "etcdserver: can only promote a learner member which is in sync with leader")
            default: throw EtcdError.rpcError(error)
            }
        }
        let status = await node.memberStatus()
        var response = Etcdserverpb_MemberPromoteResponse()
        response.header = EtcdContext.header(status.headerNumbers)
        response.members = members(status)
        return response
    }

    /// The members as etcd lists them. Each member's client URL is the etcd port it announced
    /// when it joined (carried in the membership entries' context); this member's is its own.
    /// Another member's scheme is taken to be this member's (one cluster, one TLS setting); a
    /// member that announced none (no `--etcd-port`, or a node that predates it) lists none.
    func members(_ status: MemberStatus) -> [Etcdserverpb_Member] {
        let scheme = etcd.clientURL.hasPrefix("https://") ? "https" : "http"
        return status.members.map { view in
            var member = Etcdserverpb_Member()
            let id = NodeID(hex: view.id)?.rawValue ?? 0
            member.id = id
            member.name = view.id
            member.peerUrls = view.raftAddress.isEmpty ? [] : ["\(etcd.peerScheme)://\(view.raftAddress)"]
            if id == status.memberID {
                member.clientUrls = [etcd.clientURL]
            } else if let address = status.etcdAddresses[id] {
                member.clientUrls = ["\(scheme)://\(address)"]
            }
            member.isLearner = !view.voter
            return member
        }
    }
}
