import Foundation
import GRPCCore
import KVStore
import WRaftAPI
import WRaftEtcd

/// etcd's Lease service on the node's lease calls: grants and revokes go through consensus
/// (`execute`), keep-alives and time-to-live are answered by the leader (`lease(_:renew:)`).
struct EtcdLeaseService: Etcdserverpb_Lease.SimpleServiceProtocol {
    let etcd: EtcdContext

    /// The most keep-alive requests one stream may have answered (a client renews a lease
    /// every third of its TTL, so this is years of one lease; a client past it reconnects).
    static let keepAlivesPerStreamMax = 10_000_000

    func leaseGrant(request: Etcdserverpb_LeaseGrantRequest, context: ServerContext) async throws
        -> Etcdserverpb_LeaseGrantResponse
    {
        guard request.ttl <= KVRequest.leaseTTLSecondsMax else { throw EtcdError.leaseTTLTooLarge }
        guard request.id >= 0 else { throw EtcdError.invalid("a lease id is positive") }
        // etcd raises a TTL below its minimum to the minimum; WRaft's is 1 s.
        let ttlSeconds = max(1, request.ttl)
        let deadline = etcd.deadline
        let node = etcd.node
        let result = try await EtcdError.call { () async throws(NodeError) in
            try await node.execute(.leaseGrant(id: request.id, ttlSeconds: ttlSeconds), deadline: deadline)
        }
        guard case .leaseGranted(let id, let ttl) = result else {
            throw RPCError(code: .internalError, message: "etcdserver: a grant was answered with \(result)")
        }
        var response = Etcdserverpb_LeaseGrantResponse()
        response.header = etcd.header()
        response.id = id
        response.ttl = ttl
        return response
    }

    func leaseRevoke(request: Etcdserverpb_LeaseRevokeRequest, context: ServerContext) async throws
        -> Etcdserverpb_LeaseRevokeResponse
    {
        guard request.id > 0 else { throw EtcdError.leaseNotFound }
        let deadline = etcd.deadline
        let node = etcd.node
        let result = try await EtcdError.call { () async throws(NodeError) in
            try await node.execute(.leaseRevoke(id: request.id), deadline: deadline)
        }
        guard case .leaseRevoked(_, let revision) = result else {
            throw RPCError(code: .internalError, message: "etcdserver: a revoke was answered with \(result)")
        }
        var response = Etcdserverpb_LeaseRevokeResponse()
        response.header = etcd.header(revision: revision)
        return response
    }

    func leaseKeepAlive(
        request: RPCAsyncSequence<Etcdserverpb_LeaseKeepAliveRequest, any Error>,
        response: RPCWriter<Etcdserverpb_LeaseKeepAliveResponse>, context: ServerContext
    ) async throws {
        // One request at a time: a client that sends faster than the leader answers waits
        // (HTTP/2 flow control), so nothing queues here.
        var answered = 0
        for try await keepAlive in request {
            guard answered < Self.keepAlivesPerStreamMax else {
                throw RPCError(code: .resourceExhausted, message: "etcdserver: too many keep-alives on one stream")
            }
            answered += 1
            var answer = Etcdserverpb_LeaseKeepAliveResponse()
            answer.id = keepAlive.id
            if keepAlive.id > 0 {
                let deadline = etcd.deadline
                let node = etcd.node
                do throws(NodeError) {
                    let status = try await node.lease(keepAlive.id, renew: true, deadline: deadline)
                    answer.ttl = status.ttlSeconds
                } catch {
                    // etcd: a lease that is gone answers TTL 0; any other error ends the stream.
                    guard error.code == .leaseNotFound else { throw EtcdError.rpcError(error) }
                    answer.ttl = 0
                }
            }
            answer.header = etcd.header()
            try await response.write(answer)
        }
    }

    func leaseTimeToLive(request: Etcdserverpb_LeaseTimeToLiveRequest, context: ServerContext) async throws
        -> Etcdserverpb_LeaseTimeToLiveResponse
    {
        var response = Etcdserverpb_LeaseTimeToLiveResponse()
        response.id = request.id
        let deadline = etcd.deadline
        let node = etcd.node
        do throws(NodeError) {
            guard request.id > 0 else { throw NodeError(KVRejection.leaseNotFound) }
            let status = try await node.lease(request.id, renew: false, deadline: deadline)
            // Whole seconds left, rounded up (a lease with 300 ms left has not expired).
            response.ttl = (max(0, status.remainingMs) + 999) / 1_000
            response.grantedTtl = status.ttlSeconds
            if request.keys { response.keys = status.keys.map { Data($0.utf8) } }
        } catch {
            // etcd: a lease that does not exist answers TTL -1.
            guard error.code == .leaseNotFound else { throw EtcdError.rpcError(error) }
            response.ttl = -1
        }
        response.header = etcd.header()
        return response
    }

    func leaseLeases(request: Etcdserverpb_LeaseLeasesRequest, context: ServerContext) async throws
        -> Etcdserverpb_LeaseLeasesResponse
    {
        let deadline = etcd.deadline
        let node = etcd.node
        let leases = try await EtcdError.call { () async throws(NodeError) in
            try await node.leases(consistency: .linearizable, deadline: deadline)
        }
        var response = Etcdserverpb_LeaseLeasesResponse()
        response.header = etcd.header()
        response.leases = leases.map { lease in
            var status = Etcdserverpb_LeaseStatus()
            status.id = lease.id
            return status
        }
        return response
    }
}
