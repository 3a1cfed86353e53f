import Logging
import RaftCore
import RaftStorage
import RaftTransport
import WRaftCertificates

/// The runtime's view of RaftTransport's `PeerTransport`.
struct PeerTransportAdapter: NodeTransport {
    let transport: PeerTransport
    let logger: Logger

    func setClusterID(_ clusterID: UInt64) {
        transport.setClusterID(clusterID)
    }

    func setPeer(_ id: NodeID, _ member: MemberAddress?) {
        do {
            try transport.setPeer(id, address: member?.raftAddress, fingerprint: member?.fingerprint)
        } catch {
            // An address that does not parse came from a member's own announcement: the peer
            // stays unreachable until a later membership entry corrects it.
            logger.warning("peer \(id) has an unusable address \(member?.raftAddress ?? "nil"): \(error)")
        }
    }

    func send(_ messages: [Message]) {
        transport.send(messages)
    }

    func sendSnapshot(_ message: Message, data: [UInt8]) async -> Bool {
        await transport.sendSnapshot(message, data: data)
    }

    func forEachIncoming(_ body: @escaping @Sendable (Incoming) async -> Void) async {
        for await item in transport.incoming { await body(item) }
    }

    func setControlHandler(_ handler: @escaping @Sendable ([UInt8], PublicKeyFingerprint?) async -> [UInt8]) {
        transport.setControlHandler { request, requester in await handler(request, requester.fingerprint) }
    }

    func call(address: String, request: [UInt8], timeout: Duration) async throws(ControlCallError) -> [UInt8] {
        do {
            return try await transport.call(address: address, request: request, timeout: timeout)
        } catch {
            throw ControlCallError(description: "\(error)")
        }
    }

    func shutdown() async {
        await transport.shutdown()
    }
}
