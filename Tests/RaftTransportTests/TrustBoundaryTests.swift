import NIOCore
import NIOPosix
import RaftCodec
import RaftCore
import Synchronization
import Testing
import WRaftCertificates
import WRaftTestSupport

@testable import RaftTransport

/// What an outsider can do to a raft port (issue 8): forge senders, claim no cluster, hold
/// connections open, and, under mutual TLS, speak with a wrong or foreign key.
@Suite struct TrustBoundaryTests {
    /// Finding 2: one frame from a non-member id, with the right cluster id and a high term, used
    /// to reach the core. It is dropped and counted; a member's messages still arrive. (The term
    /// is within `Term.wireMax`: a larger one never decodes at all, which RaftCodec's bound tests
    /// show; this test is about the sender check behind it.)
    @Test func aFrameFromANonMemberIsDroppedAndCounted() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            a.transport.setClusterID(0xA)
            b.transport.setClusterID(0xA)
            try a.know([b])
            try b.know([a])
            let raw = try await RawClient.connect(port: a.port)
            let forged = frameBytes(heartbeat(from: 77, to: 1, term: 1 << 40), clusterID: 0xA)
            try await raw.send(forged + forged)
            #expect(await eventually { a.transport.statistics.messagesDroppedUnauthorized == 2 })
            // One log line for the connection, however many frames it forges.
            #expect(
                a.logLines.count(of: "dropping messages from a sender that is not a member, or not the key of this connection") == 1)
            b.transport.send([heartbeat(from: 2, to: 1, commit: 3)])
            #expect(await a.inbox.waitForMessages(1))
            #expect(a.inbox.messages == [heartbeat(from: 2, to: 1, commit: 3)])
            raw.close()
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    /// A removed member (forgotten with a nil address) is no longer heard.
    @Test func aForgottenPeerIsNoLongerHeard() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            try b.know([a])
            b.transport.send([heartbeat(from: 2, to: 1, commit: 1)])
            #expect(await a.inbox.waitForMessages(1))
            try a.transport.setPeerAddress(2, address: nil)
            b.transport.send([heartbeat(from: 2, to: 1, commit: 2)])
            #expect(await eventually { a.transport.statistics.messagesDroppedUnauthorized == 1 })
            #expect(a.inbox.messages.count == 1)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    /// A snapshot from a sender that is not admitted is refused at its first chunk.
    @Test func aSnapshotFromANonMemberIsRefused() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            // B is not known to A.
            #expect(await a.transport.sendSnapshot(snapshotMessage(from: 1, to: 2), data: [1, 2, 3]) == false)
            #expect(b.inbox.received.isEmpty)
            #expect(b.transport.statistics.messagesDroppedUnauthorized == 1)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    /// Slowloris: a connection that sends nothing, or a length prefix and then silence, is
    /// closed at `firstFrameTimeout`.
    @Test func aConnectionWithoutAFirstFrameIsClosedByTheDeadline() async throws {
        var options = TransportOptions()
        options.firstFrameTimeout = .milliseconds(300)
        let a = try await Node.start(1, options: options)
        try await withCleanup {
            let silent = try await RawClient.connect(port: a.port)
            let partial = try await RawClient.connect(port: a.port)
            // Declares 8 MiB, sends one byte of it. On a starved machine the deadline may pass
            // before the bytes go out, and the send finds the channel closed: the server closed
            // it either way, which is what is checked below.
            try? await partial.send([0x00, 0x80, 0x00, 0x00, 0x01])
            let start = ContinuousClock.now
            #expect(await silent.isClosedByServer())
            #expect(await partial.isClosedByServer())
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(a.transport.statistics.connectionsRejected == 2)
        } finally: {
            await a.transport.shutdown()
        }
    }

    /// A connection that delivered a frame is a working one: the deadline no longer applies.
    @Test func theDeadlineSparesAConnectionThatSpoke() async throws {
        var options = TransportOptions()
        options.firstFrameTimeout = .milliseconds(200)
        let a = try await Node.start(1, options: options)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            try b.know([a])
            b.transport.send([heartbeat(from: 2, to: 1, commit: 1)])
            #expect(await a.inbox.waitForMessages(1))
            try await Task.sleep(for: .milliseconds(600))
            #expect(b.transport.peerStatus()[1] == .connected)
            #expect(a.transport.statistics.connectionsRejected == 0)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    /// One source address gets `inboundConnectionsPerSourceMax` connections; the next is closed.
    @Test func connectionsPerSourceAreBounded() async throws {
        var options = TransportOptions()
        options.inboundConnectionsPerSourceMax = 2
        // Silent connections are the point here: keep the first-frame deadline out of the way.
        options.firstFrameTimeout = .seconds(60)
        let a = try await Node.start(1, options: options)
        try await withCleanup {
            let clients = [
                try await RawClient.connect(port: a.port), try await RawClient.connect(port: a.port),
                try await RawClient.connect(port: a.port),
            ]
            let admitted = await RawClient.admitted(clients, expectingRefused: 1)
            #expect(admitted.count == 2)
            // Closing one frees a slot for that source (the server learns of the close
            // asynchronously: retry, bounded, until a new connection stays up).
            admitted.first?.close()
            var isFreed = false
            for _ in 0..<50 where !isFreed {
                let probe = try await RawClient.connect(port: a.port)
                try await Task.sleep(for: .milliseconds(100))
                isFreed = probe.channel.isActive
                probe.close()
            }
            #expect(isFreed)
            admitted.last?.close()
        } finally: {
            await a.transport.shutdown()
        }
    }

    @Test func badLimitsAreRefused() {
        var options = TransportOptions()
        options.inboundConnectionsPerSourceMax = 0
        #expect(throws: TransportError.self) { try options.validate() }
        options = TransportOptions()
        options.firstFrameTimeout = .zero
        #expect(throws: TransportError.self) { try options.validate() }
    }
}

/// Mutual TLS on the raft port.
@Suite struct MutualTLSTests {
    struct Member {
        let node: Node
        let fingerprint: PublicKeyFingerprint
    }

    func start(_ id: NodeID, _ identity: TestMember, options base: TransportOptions = TransportOptions()) async throws
        -> Member
    {
        var options = base
        options.tls = try identity.tls()
        let fingerprint = try #require(try options.tls?.localFingerprint())
        return Member(node: try await Node.start(id, options: options), fingerprint: fingerprint)
    }

    func introduce(_ members: [Member]) throws {
        for member in members {
            for other in members where other.node.id != member.node.id {
                try member.node.transport.setPeer(other.node.id, address: other.node.address, fingerprint: other.fingerprint)
            }
        }
    }

    @Test func membersOfOneCAExchangeMessagesSnapshotsAndControlCalls() async throws {
        let ca = try TestCA()
        let a = try await start(1, ca.issue("a"))
        let b = try await start(2, ca.issue("b"))
        try await withCleanup {
            try introduce([a, b])
            a.node.transport.send([heartbeat(from: 1, to: 2, commit: 1)])
            b.node.transport.send([append(from: 2, to: 1, valueBytes: 200_000)])
            #expect(await b.node.inbox.waitForMessages(1))
            #expect(await a.node.inbox.waitForMessages(1))
            #expect(await a.node.transport.sendSnapshot(snapshotMessage(from: 1, to: 2), data: Array(repeating: 7, count: 3 << 20)))

            // The control handler learns the caller's key.
            let seen = Mutex<PublicKeyFingerprint?>(nil)
            b.node.transport.setControlHandler { request, requester in
                seen.withLock { $0 = requester.fingerprint }
                return request
            }
            #expect(try await a.node.transport.call(address: b.node.address, request: [1, 2], timeout: waitBound) == [1, 2])
            #expect(seen.withLock { $0 } == a.fingerprint)
        } finally: {
            await a.node.transport.shutdown()
            await b.node.transport.shutdown()
        }
    }

    /// One member must not speak for another: C (a genuine member) sends a frame claiming to be
    /// B; A drops it because C's connection proves C's key, not B's.
    @Test func aMemberCannotSpeakForAnother() async throws {
        let ca = try TestCA()
        let a = try await start(1, ca.issue("a"))
        let b = try await start(2, ca.issue("b"))
        let c = try await start(3, ca.issue("c"))
        try await withCleanup {
            try introduce([a, b, c])
            c.node.transport.send([heartbeat(from: 2, to: 1, term: 1 << 40)])
            #expect(await eventually { a.node.transport.statistics.messagesDroppedUnauthorized == 1 })
            b.node.transport.send([heartbeat(from: 2, to: 1, commit: 9)])
            #expect(await a.node.inbox.waitForMessages(1))
            #expect(a.node.inbox.messages == [heartbeat(from: 2, to: 1, commit: 9)])
        } finally: {
            for member in [a, b, c] { await member.node.transport.shutdown() }
        }
    }

    /// A member recorded without a key cannot be verified under TLS, so it is not heard.
    @Test func aMemberWithoutARecordedKeyIsNotHeardUnderTLS() async throws {
        let ca = try TestCA()
        let a = try await start(1, ca.issue("a"))
        let b = try await start(2, ca.issue("b"))
        try await withCleanup {
            try a.node.transport.setPeer(2, address: b.node.address, fingerprint: nil)
            try b.node.transport.setPeer(1, address: a.node.address, fingerprint: a.fingerprint)
            b.node.transport.send([heartbeat(from: 2, to: 1)])
            #expect(await eventually { a.node.transport.statistics.messagesDroppedUnauthorized == 1 })
            #expect(a.node.inbox.received.isEmpty)
        } finally: {
            await a.node.transport.shutdown()
            await b.node.transport.shutdown()
        }
    }

    /// A node with another CA's certificate (or a plaintext one) completes no handshake: its
    /// messages and control calls never arrive, whatever id it claims.
    @Test func strangersWithoutTheClusterCACannotConnect() async throws {
        let ca = try TestCA()
        let otherCA = try TestCA(name: "another CA")
        let a = try await start(1, ca.issue("a"))
        let stranger = try await start(2, otherCA.issue("stranger"))
        let plain = try await Node.start(3)
        try await withCleanup {
            let seen = Mutex(0)
            a.node.transport.setControlHandler { request, _ in
                seen.withLock { $0 += 1 }
                return request
            }
            // A even believes the stranger's key belongs to member 2.
            try a.node.transport.setPeer(2, address: stranger.node.address, fingerprint: stranger.fingerprint)
            try stranger.node.transport.setPeer(1, address: a.node.address, fingerprint: a.fingerprint)
            try plain.transport.setPeerAddress(1, address: a.node.address)
            stranger.node.transport.send([heartbeat(from: 2, to: 1)])
            plain.transport.send([heartbeat(from: 3, to: 1)])
            await #expect(throws: TransportError.self) {
                _ = try await stranger.node.transport.call(address: a.node.address, request: [1], timeout: .seconds(2))
            }
            await #expect(throws: TransportError.self) {
                _ = try await plain.transport.call(address: a.node.address, request: [1], timeout: .seconds(2))
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(a.node.inbox.received.isEmpty)
            #expect(seen.withLock { $0 } == 0)
            #expect(stranger.node.transport.peerStatus()[1] != .connected || a.node.inbox.received.isEmpty)
        } finally: {
            for node in [a.node, stranger.node, plain] { await node.transport.shutdown() }
        }
    }

    /// The other direction: A knows node 2 by B's key; an impostor (a genuine CA certificate,
    /// another key) listening where A looks for node 2 gets none of A's messages or snapshots.
    @Test func anOutboundLinkRefusesAListenerWithAnotherKey() async throws {
        let ca = try TestCA()
        let a = try await start(1, ca.issue("a"))
        let b = try await start(2, ca.issue("b"))
        let impostor = try await start(2, ca.issue("impostor"))
        try await withCleanup {
            try a.node.transport.setPeer(2, address: impostor.node.address, fingerprint: b.fingerprint)
            try impostor.node.transport.setPeer(1, address: a.node.address, fingerprint: a.fingerprint)
            a.node.transport.send([heartbeat(from: 1, to: 2)])
            #expect(await a.node.transport.sendSnapshot(snapshotMessage(from: 1, to: 2), data: [1, 2, 3]) == false)
            try await Task.sleep(for: .milliseconds(300))
            #expect(impostor.node.inbox.received.isEmpty)
            #expect(a.node.transport.peerStatus()[2] != .connected)
            // Pointed at the real B, the same link works.
            try b.node.transport.setPeer(1, address: a.node.address, fingerprint: a.fingerprint)
            try a.node.transport.setPeer(2, address: b.node.address, fingerprint: b.fingerprint)
            a.node.transport.send([heartbeat(from: 1, to: 2, commit: 4)])
            #expect(await b.node.inbox.waitForMessages(1))
        } finally: {
            for member in [a, b, impostor] { await member.node.transport.shutdown() }
        }
    }

    @Test func theFingerprintIsTheSPKIHash() throws {
        let ca = try TestCA()
        let member = try ca.issue("a")
        let tls = try member.tls()
        let fingerprint = try tls.localFingerprint()
        #expect(fingerprint.hex.count == 64)
        #expect(PublicKeyFingerprint(bytes: fingerprint.bytes) == fingerprint)
        // Another key, another fingerprint.
        #expect(try ca.issue("b").tls().localFingerprint() != fingerprint)
    }
}
