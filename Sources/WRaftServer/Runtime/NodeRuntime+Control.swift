import RaftCore
import RaftStorage
import WRaftCertificates
import WRaftSupport

// The runtime's side of the control protocol (ControlProtocol.swift): serving the control
// requests of other nodes, after checking who may send them, and calling other nodes.
extension NodeRuntime {
    // MARK: Serving

    /// Answers one control request. `requester` is the key the requester's TLS connection
    /// proved (its certificate chains to the cluster CA); nil in a plaintext cluster.
    func handleControl(_ bytes: [UInt8], requester: PublicKeyFingerprint?) async -> [UInt8] {
        let request: ControlRequest
        do {
            request = try ControlCoding.decode(ControlRequest.self, from: bytes)
        } catch {
            return ControlCoding.encode(ControlResponse.failure(ControlFailure(.badRequest(code: .badRequest, message: error.description))))
        }
        do {
            return ControlCoding.encode(try await respond(to: request, requester: requester))
        } catch {
            return ControlCoding.encode(ControlResponse.failure(ControlFailure(error)))
        }
    }

    /// Whether this node runs mutual TLS on its raft port (it then knows its own key).
    var isPeerTLS: Bool { selfAddress.fingerprint != nil }

    /// Under TLS, refuses a requester that is not a current member (or admitted joiner) by key.
    /// In plaintext nobody proves anything: such clusters are for loopback or trusted networks.
    private func requireMemberKey(_ requester: PublicKeyFingerprint?, for what: String) throws(NodeError) {
        guard isPeerTLS else { return }
        guard let requester, book.addresses.values.contains(where: { $0.fingerprint == requester }) else {
            throw .badRequest(code: .forbiddenPeer, message: "\(what) is accepted only from a member's key")
        }
    }

    /// Under TLS, every member of a list must carry its key (else it could never be heard), and
    /// the requester must be one of them (a node speaks for its own list).
    private func requireKeys(_ book: AddressBook, requester: PublicKeyFingerprint?) throws(NodeError) {
        guard isPeerTLS else { return }
        guard book.addresses.values.allSatisfy({ $0.fingerprint != nil }) else {
            throw .badRequest(code: .badRequest, message: "in a TLS cluster every member record carries its key's fingerprint")
        }
        guard let requester, book.addresses.values.contains(where: { $0.fingerprint == requester }) else {
            throw .badRequest(code: .forbiddenPeer, message: "the requester's key is not in its member list")
        }
    }

    private func respond(to request: ControlRequest, requester: PublicKeyFingerprint?) async throws(NodeError)
        -> ControlResponse
    {
        switch request {
        case .merge(let records):
            let other = try Self.book(from: records)
            try requireKeys(other, requester: requester)
            return try await respondToMerge(other)
        case .start(let clusterIDText, let records):
            let founders = try Self.book(from: records)
            try requireKeys(founders, requester: requester)
            return try await respondToStart(clusterIDText: clusterIDText, founders: founders)
        case .join(let member, let timeoutMs, let isForwarded):
            let (id, address) = try Self.memberAddress(from: member)
            if isForwarded {
                try requireMemberKey(requester, for: "a forwarded join")
            } else if isPeerTLS {
                // The joiner's record must carry the key of the connection it came on: a node
                // joins as itself, never with somebody else's key.
                guard let requester, address.fingerprint == requester else {
                    throw .badRequest(code: .forbiddenPeer, message: "a join must carry the joiner's own key")
                }
            }
            guard !isPeerTLS || address.fingerprint != nil else {
                throw .badRequest(code: .badRequest, message: "a join into a TLS cluster carries the joiner's key")
            }
            return try await respondToJoin(
                member, id: id, address: address, deadline: clock.now + Self.boundedTimeout(timeoutMs), isForwarded: isForwarded)
        case .invite(let raftAddress, _):
            guard MemberAddressSyntax.problem(with: raftAddress) == nil else {
                throw .badRequest(code: .badPeer, message: "the inviting address is not a host:port raft address")
            }
            return try await respondToInvite(raftAddress)
        case .removeMember(let idText, let timeoutMs, let isForwarded):
            try requireMemberKey(requester, for: "a forwarded removal")
            let id = try Self.parseMember(idText)
            try await removeMember(id, deadline: clock.now + Self.boundedTimeout(timeoutMs), isForwarded: isForwarded)
            return .done
        case .promoteMember(let idText, let timeoutMs, let isForwarded):
            try requireMemberKey(requester, for: "a forwarded promotion")
            let id = try Self.parseMember(idText)
            try await promoteMember(id, deadline: clock.now + Self.boundedTimeout(timeoutMs), isForwarded: isForwarded)
            return .done
        case .transferLeadership(let idText, let isForwarded):
            // A transfer request from the wire is a fault injection forwarded by `/op/transfer`:
            // it needs `--enable-faults` here too, or any peer could move leadership at will.
            guard options.isFaultInjectionEnabled else { throw .faultsDisabled }
            try requireMemberKey(requester, for: "a forwarded transfer")
            try await transferLeadership(to: try Self.parseMember(idText), isForwarded: isForwarded)
            return .done
        case .lease(let id, let renew, let timeoutMs, let isForwarded):
            try requireMemberKey(requester, for: "a forwarded lease request")
            let status = try await leaseStatus(
                id, renew: renew, deadline: clock.now + Self.boundedTimeout(timeoutMs), isForwarded: isForwarded)
            return .lease(ttlSeconds: status.ttlSeconds, remainingMs: status.remainingMs, keys: status.keys)
        }
    }

    /// A timeout from the wire, clamped to 1 ms...10 min (a hostile value neither traps nor waits
    /// for ever).
    static func boundedTimeout(_ milliseconds: Int) -> Duration {
        .milliseconds(min(max(milliseconds, 1), 600_000))
    }

    static func memberAddress(from record: MemberRecord) throws(NodeError) -> (NodeID, MemberAddress) {
        do {
            return try record.validated()
        } catch {
            throw .badRequest(code: .badRequest, message: error.description)
        }
    }

    static func parseMember(_ text: String) throws(NodeError) -> NodeID {
        guard let id = NodeID(hex: text), id.rawValue != 0 else {
            throw .badRequest(code: .badID, message: "\(text) is not a member id (16 hex digits)")
        }
        return id
    }

    // MARK: Calling

    /// Sends a control request and decodes the answer; a failure answer is thrown as its error.
    func call(_ address: String, _ request: ControlRequest, timeout: Duration? = nil) async throws(NodeError)
        -> ControlResponse
    {
        let reply: [UInt8]
        do {
            reply = try await transport.call(
                address: address, request: ControlCoding.encode(request),
                timeout: timeout ?? .milliseconds(options.controlTimeoutMs))
        } catch {
            throw .peerUnreachable(message: "\(address) did not answer: \(error)")
        }
        let response: ControlResponse
        do {
            response = try ControlCoding.decode(ControlResponse.self, from: reply)
        } catch {
            throw .internalError(message: "\(address) answered: \(error)")
        }
        if case .failure(let failure) = response { throw failure.nodeError }
        return response
    }

    static func book(from records: [MemberRecord]) throws(NodeError) -> AddressBook {
        do {
            return try AddressBook(records: records)
        } catch {
            throw .badRequest(code: .badRequest, message: error.description)
        }
    }

    /// The same request to several addresses at once; each answer or error by address.
    func callAll(_ addresses: [String], _ request: ControlRequest, timeout: Duration? = nil) async
        -> [String: Result<ControlResponse, NodeError>]
    {
        let transport = self.transport
        let bytes = ControlCoding.encode(request)
        let bound = timeout ?? .milliseconds(options.controlTimeoutMs)
        return await withTaskGroup(of: (String, Result<ControlResponse, NodeError>).self) { group in
            for address in addresses {
                group.addTask {
                    do {
                        let reply = try await transport.call(address: address, request: bytes, timeout: bound)
                        let response = try ControlCoding.decode(ControlResponse.self, from: reply)
                        if case .failure(let failure) = response { return (address, .failure(failure.nodeError)) }
                        return (address, .success(response))
                    } catch {
                        return (address, .failure(.peerUnreachable(message: "\(address) did not answer: \(error)")))
                    }
                }
            }
            var answers: [String: Result<ControlResponse, NodeError>] = [:]
            for await (address, answer) in group { answers[address] = answer }
            return answers
        }
    }

    /// Sends a request to the leader's raft port and relays its answer.
    func forwardToLeader(_ request: ControlRequest, isForwarded: Bool, deadline: ContinuousClock.Instant)
        async throws(NodeError) -> ControlResponse
    {
        guard !isForwarded, let leader = core?.currentLeader, leader != localID, let address = book[leader]?.raftAddress else {
            throw .noLeader(retryAfterMs: Self.retryAfterMs)
        }
        return try await call(address, request, timeout: .milliseconds(remainingMs(until: deadline) + options.controlTimeoutMs))
    }

    /// What is left of `deadline` on the node's clock, in milliseconds, bounded (a control call's
    /// timeout).
    func remainingMs(until deadline: ContinuousClock.Instant) -> Int {
        let remaining = clock.now.duration(to: deadline)
        let milliseconds = remaining.inMilliseconds
        return Int(max(1, min(milliseconds, 600_000)))
    }
}
