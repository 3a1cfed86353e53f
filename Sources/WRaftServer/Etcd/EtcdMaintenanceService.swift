import Crypto
import Foundation
import GRPCCore
import WRaftAPI
import WRaftEtcd

/// etcd's Maintenance service: Status, the NOSPACE alarm of the quota, and Snapshot.
struct EtcdMaintenanceService: Etcdserverpb_Maintenance.SimpleServiceProtocol {
    let etcd: EtcdContext

    /// The etcd API version WRaft answers Status with (etcdctl prints it).
    static let etcdVersion = "3.4.0"
    /// Bytes per snapshot message (etcd's size).
    static let snapshotChunkBytes = 32 << 10
    /// A snapshot stream ends with the SHA-256 of what came before, which is padded with zeros
    /// to a multiple of this (etcd's bolt page size; `etcdctl snapshot save` checks the length).
    static let snapshotAlignmentBytes = 512

    func alarm(request: Etcdserverpb_AlarmRequest, context: ServerContext) async throws -> Etcdserverpb_AlarmResponse {
        // The NOSPACE alarm is raised while the store is at its quota and clears itself when
        // deletes make room: activating or deactivating it by hand changes nothing.
        let status = await etcd.node.memberStatus()
        var response = Etcdserverpb_AlarmResponse()
        response.header = EtcdContext.header(status.headerNumbers)
        if status.quotaBytes > 0, status.storeBytes >= status.quotaBytes {
            var alarm = Etcdserverpb_AlarmMember()
            alarm.memberID = status.memberID
            alarm.alarm = .nospace
            response.alarms = [alarm]
        }
        return response
    }

    func status(request: Etcdserverpb_StatusRequest, context: ServerContext) async throws -> Etcdserverpb_StatusResponse {
        let status = await etcd.node.memberStatus()
        var response = Etcdserverpb_StatusResponse()
        response.header = EtcdContext.header(status.headerNumbers)
        response.version = Self.etcdVersion
        response.dbSize = Int64(status.storeBytes)
        response.dbSizeInUse = Int64(status.storeBytes)
        response.leader = status.leaderID
        response.raftIndex = status.commitIndex
        response.raftTerm = status.term
        response.raftAppliedIndex = status.appliedIndex
        response.isLearner = status.isLearner
        if status.quotaBytes > 0, status.storeBytes >= status.quotaBytes {
            response.errors = ["memberID:\(status.memberID) alarm:NOSPACE"]
        }
        return response
    }

    func snapshot(
        request: Etcdserverpb_SnapshotRequest, response: RPCWriter<Etcdserverpb_SnapshotResponse>,
        context: ServerContext
    ) async throws {
        let deadline = etcd.deadline
        let node = etcd.node
        let snapshot = try await EtcdError.call { () async throws(NodeError) in
            try await node.storeSnapshot(deadline: deadline)
        }
        let header = etcd.header(revision: snapshot.revision)
        var bytes = snapshot.bytes
        let padding = (Self.snapshotAlignmentBytes - bytes.count % Self.snapshotAlignmentBytes) % Self.snapshotAlignmentBytes
        bytes.append(contentsOf: repeatElement(0, count: padding))
        bytes.append(contentsOf: SHA256.hash(data: bytes))
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + Self.snapshotChunkBytes)
            var message = Etcdserverpb_SnapshotResponse()
            message.header = header
            message.blob = Data(bytes[offset..<end])
            message.remainingBytes = UInt64(bytes.count - end)
            try await response.write(message)
            offset = end
        }
    }
}
