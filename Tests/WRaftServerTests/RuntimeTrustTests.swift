import Foundation
import RaftCore
import RaftStorage
import Testing
import WRaftCertificates
import WRaftSupport

@testable import WRaftServer

/// The runtime's side of the raft-port trust boundary (issue 8): control requests are
/// authorized by the requester's key, member records are validated wherever they enter, a forged
/// transfer needs `--enable-faults`, and forged sender ids leave no trace.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeTrustTests {
    static let longAddress = String(repeating: "a", count: 2_048) + ":1"

    /// Sends `request` to `runtime`'s control handler as a peer proving `requester` would.
    func control(_ runtime: NodeRuntime, _ request: ControlRequest, requester: PublicKeyFingerprint? = nil) async throws
        -> ControlResponse
    {
        let reply = await runtime.handleControl(ControlCoding.encode(request), requester: requester)
        return try ControlCoding.decode(ControlResponse.self, from: reply)
    }

    func failureCode(_ response: ControlResponse) -> String? {
        if case .failure(let failure) = response { return failure.code }
        return nil
    }

    @Test func aForgedTransferWithoutFaultsDoesNotMoveLeadership() async throws {
        let cluster = TestCluster(size: 3, faults: false, clock: ManualClock())
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let target = try #require(NodeID(hex: try await cluster.nodes[(leader + 1) % 3].runtime.state().id))
            let response = try await control(
                try cluster.nodes[leader].runtime, .transferLeadership(to: target.description, isForwarded: true))
            #expect(failureCode(response) == "faults_disabled")
            // Give a transfer time to happen, had it been started: a transfer ends within an
            // election timeout, and five pass on the nodes' clock.
            try await cluster.advanceWhileLeading(cluster.nodes[0].options.longestElectionTimeouts(5), leader: leader)
            #expect(try await cluster.waitForLeader() == leader)
        }
    }

    @Test func aTwoKilobyteAddressIsRefusedAtEveryEntryPoint() async throws {
        let cluster = TestCluster(size: 2)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            let initial = try cluster.nodes[0].runtime
            let bad = MemberRecord(id: NodeID(77).description, raftAddress: Self.longAddress, httpAddress: "h:1")
            let badHTTP = MemberRecord(id: NodeID(77).description, raftAddress: "h:1", httpAddress: Self.longAddress)

            // Control payloads: merge and start reach an initial node.
            for record in [bad, badHTTP] {
                #expect(failureCode(try await control(initial, .merge(members: [record]))) == "bad_request")
                #expect(
                    failureCode(try await control(initial, .start(clusterID: "00000000000000aa", members: [record])))
                        == "bad_request")
            }
            #expect(await initial.state().members.count == 1)
            // Invite and /connect.
            #expect(failureCode(try await control(initial, .invite(raftAddress: Self.longAddress, timeoutMs: 100))) == "bad_peer")
            let connectError = await caughtNodeError { _ = try await initial.connect(peerRaftAddress: Self.longAddress) }
            if case .badRequest = connectError {} else { Issue.record("connect: \(String(describing: connectError))") }

            // Join reaches a running node.
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let running = try cluster.nodes[leader].runtime
            let joinResponse = try await control(running, .join(member: bad, timeoutMs: 1_000, isForwarded: false))
            #expect(failureCode(joinResponse) == "bad_request")
            #expect(await running.state().members.count == 2)

            // Membership contexts: the binary form refuses it too.
            var book = AddressBook()
            book.set(NodeID(5), MemberAddress(raftAddress: Self.longAddress, httpAddress: "h:1"))
            #expect(throws: AddressBookDecodingError.self) { try AddressBook(decoding: book.encoded()) }
            #expect(throws: ControlDecodingError.self) { try AddressBook(records: [bad]) }
        }
    }

    @Test(arguments: [
        "", "h", "h:", ":1", "h:0", "h:65536", "h:+80", "h: 80", "::1:80", "[]:80", "[zz]:80", "h h:80", "-h:80",
        "h/x:80", "h\u{0}:80", "[::1:80",
    ])
    func malformedAddressesAreRefused(_ address: String) {
        #expect(MemberAddressSyntax.problem(with: address) != nil)
    }

    @Test(arguments: ["127.0.0.1:1", "[::1]:10002", "node-1.example.com:65535", "mem:10002", "h_x:80"])
    func wellFormedAddressesAreAccepted(_ address: String) {
        #expect(MemberAddressSyntax.problem(with: address) == nil)
    }

    @Test func recordsRefuseBadIdsAndFingerprints() throws {
        let good = MemberRecord(id: NodeID(7).description, raftAddress: "h:1", httpAddress: "h:2")
        #expect(try good.validated().0 == NodeID(7))
        var zero = good
        zero.id = NodeID(0).description
        var fingerprint = good
        fingerprint.publicKeyFingerprint = "xyz"
        var longID = good
        longID.id = String(repeating: "0", count: 40) + "7"
        for bad in [zero, fingerprint, longID] {
            #expect(throws: ControlDecodingError.self) { try bad.validated() }
        }
        var keyed = good
        keyed.publicKeyFingerprint = testFingerprint(1).hex.uppercased()
        #expect(try keyed.validated().1.fingerprint == testFingerprint(1))
    }

    @Test func addressBooksCarryKeysAndStillDecodeVersionOne() throws {
        let keyed = AddressBook([
            NodeID(1): MemberAddress(raftAddress: "h:1", httpAddress: "h:2", fingerprint: testFingerprint(1)),
            NodeID(2): MemberAddress(raftAddress: "h:3", httpAddress: "h:4"),
        ])
        #expect(try AddressBook(decoding: keyed.encoded()) == keyed)
        // Version 1 as written before TLS: [1][count u32][id u64][len u32][raft][len u32][http].
        var v1: [UInt8] = [1, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]
        v1 += Array("a:1".utf8) + [3, 0, 0, 0] + Array("a:2".utf8)
        #expect(try AddressBook(decoding: v1) == AddressBook([NodeID(9): MemberAddress(raftAddress: "a:1", httpAddress: "a:2")]))
        // A bad fingerprint flag is refused.
        var bad = AddressBook([NodeID(9): MemberAddress(raftAddress: "a:1", httpAddress: "a:2")]).encoded()
        bad[bad.count - 1] = 7
        #expect(throws: AddressBookDecodingError.self) { try AddressBook(decoding: bad) }
    }

    /// Under (simulated) TLS, founders and joiners carry their keys; a join must carry the key
    /// of the connection it came on, and forwarded requests must come from a member's key.
    @Test func controlRequestsAreAuthorizedByKey() async throws {
        let cluster = TestCluster(size: 4, keys: true)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            for node in cluster.nodes[1...2] {
                _ = try await node.runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            }
            try await cluster.nodes[0].runtime.start()
            let leader = try await cluster.waitForLeader(among: [0, 1, 2])
            let running = try cluster.nodes[leader].runtime
            let stranger = testFingerprint(99)

            // A join carrying a key other than the connection's.
            var impostor = MemberRecord(id: NodeID(0x99).description, raftAddress: "mem:1", httpAddress: "mem:2")
            impostor.publicKeyFingerprint = testFingerprint(1).hex
            let join = ControlRequest.join(member: impostor, timeoutMs: 1_000, isForwarded: false)
            #expect(failureCode(try await control(running, join, requester: stranger)) == "forbidden_peer")
            // A join without a key, into a TLS cluster.
            impostor.publicKeyFingerprint = nil
            #expect(failureCode(try await control(running, join, requester: stranger)) == "forbidden_peer")
            // Forwarded requests from a non-member's key.
            impostor.publicKeyFingerprint = stranger.hex
            let forwarded = ControlRequest.join(member: impostor, timeoutMs: 1_000, isForwarded: true)
            #expect(failureCode(try await control(running, forwarded, requester: stranger)) == "forbidden_peer")
            let memberID = try await cluster.nodes[(leader + 1) % 3].runtime.state().id
            let remove = ControlRequest.removeMember(id: memberID, timeoutMs: 1_000, isForwarded: true)
            #expect(failureCode(try await control(running, remove, requester: stranger)) == "forbidden_peer")
            let promote = ControlRequest.promoteMember(id: memberID, timeoutMs: 1_000, isForwarded: true)
            #expect(failureCode(try await control(running, promote, requester: stranger)) == "forbidden_peer")
            #expect(await running.state().members.count == 3)

            // The legitimate path: the fourth node joins with its own key, recorded in the book.
            let joiner = try cluster.nodes[3].runtime
            _ = try await joiner.connect(peerRaftAddress: cluster.nodes[(leader + 1) % 3].options.raftAddress)
            let joinerID = try #require(NodeID(hex: await joiner.state().id))
            try await TestCluster.waitUntil("the joiner is a member with its key") {
                await running.book[joinerID]?.fingerprint == testFingerprint(3)
            }
            _ = try await joiner.write(WriteRequest(key: "k", operation: .put(value: [1])), deadline: deadline())
        }
    }

    /// A member restarted with another key would never be heard again: it refuses to start,
    /// and says why; with its own key it restarts fine.
    @Test func aMemberRestartedWithAnotherKeyRefusesToStart() async throws {
        let cluster = TestCluster(size: 3, keys: true)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            _ = try await cluster.waitForLeader()
            let node = cluster.nodes[2]
            await node.stop()
            let rekeyed = TestNode(
                index: 2, network: node.network, options: node.options, makeStorage: { [storage = node.storage] in storage },
                fingerprint: testFingerprint(42))
            do {
                try await rekeyed.open()
                Issue.record("a member restarted with another key must refuse to start")
                await rekeyed.stop()
            } catch let error as NodeStartupError {
                #expect(error.description.contains("original key"))
            }
            try await node.open()
            _ = try await cluster.waitForLeader()
        }
    }

    /// A plaintext cluster's member restarted with peer TLS could hear nobody (no member is
    /// known by key): it refuses to start and says so.
    @Test func aPlaintextMemberRestartedWithTLSRefusesToStart() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            _ = try await cluster.waitForLeader()
            let node = cluster.nodes[1]
            await node.stop()
            let keyed = TestNode(
                index: 1, network: node.network, options: node.options, makeStorage: { [storage = node.storage] in storage },
                fingerprint: testFingerprint(7))
            do {
                try await keyed.open()
                Issue.record("a plaintext member restarted with a key must refuse to start")
                await keyed.stop()
            } catch let error as NodeStartupError {
                #expect(error.description.contains("formed without peer TLS"))
            }
            try await node.open()
        }
    }

    /// Mutated control payloads (a valid merge and join with bytes flipped) are always answered
    /// with a decodable response, and never add a member whose record is invalid.
    @Test func mutatedControlPayloadsAreAnsweredAndNeverAddABadRecord() async throws {
        let cluster = TestCluster(size: 1)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            let runtime = try cluster.nodes[0].runtime
            let record = MemberRecord(
                id: NodeID(0x77).description, raftAddress: "mem:20000", httpAddress: "mem:20001",
                publicKeyFingerprint: testFingerprint(1).hex)
            let seeds = [
                ControlCoding.encode(ControlRequest.merge(members: [record])),
                ControlCoding.encode(ControlRequest.join(member: record, timeoutMs: 10, isForwarded: false)),
            ]
            var generator = SplitMix64(seed: 8)
            for round in 0..<1_000 {
                var bytes = seeds[round % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                let reply = await runtime.handleControl(bytes, requester: nil)
                #expect((try? ControlCoding.decode(ControlResponse.self, from: reply)) != nil, "round \(round)")
            }
            for (_, address) in await runtime.book.addresses {
                #expect(MemberAddressSyntax.problem(with: address.raftAddress) == nil)
                #expect(MemberAddressSyntax.problem(with: address.httpAddress) == nil)
            }
        }
    }

    /// Under TLS a joiner restarted before its log names anyone knows its peers only from its
    /// identity file, which keeps no keys: it would hear none of them. It asks for the keys again
    /// and catches up. (The network here hears a sender only on its recorded key, as TLS does.)
    @Test func aKeyedJoinerRestartedBeforeItsLogNamesAnyoneStillCatchesUp() async throws {
        let directories = (0..<4).map { _ in
            FileManager.default.temporaryDirectory.appendingPathComponent("wraft-keyed-join-\(UUID())").path
        }
        defer { for directory in directories { try? FileManager.default.removeItem(atPath: directory) } }
        let cluster = TestCluster(size: 4, directories: directories, keys: true)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            for node in cluster.nodes[1...2] {
                _ = try await node.runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            }
            try await cluster.nodes[0].runtime.start()
            let leader = try await cluster.waitForLeader(among: [0, 1, 2])
            _ = try await cluster.nodes[leader].runtime.write(
                WriteRequest(key: "before", operation: .put(value: [1])), deadline: deadline())
            let joiner = cluster.nodes[3]
            try await joiner.runtime.inject(.pause)
            _ = try await joiner.runtime.connect(peerRaftAddress: cluster.nodes[leader].options.raftAddress)
            #expect(try await joiner.runtime.state().lastLogIndex == 0)
            await joiner.stop()
            try await joiner.open()
            try await TestCluster.waitUntil("the restarted keyed joiner catches up") {
                (try await joiner.runtime.read(key: "before", consistency: .local, deadline: deadline()))?.value == [1]
            }
        }
    }

    /// `lastContact` grew by every forged sender id; now only members are tracked.
    @Test func forgedSenderIdsLeaveNoTraceInLastContact() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[leader].runtime
            let me = try #require(NodeID(hex: await runtime.state().id))
            for forged in 1_000..<1_100 {
                await runtime.receive(
                    Message(from: NodeID(UInt64(forged)), to: me, term: 1, payload: .heartbeatResponse(HeartbeatResponse())))
            }
            let tracked = Set(await runtime.lastContact.keys)
            let members = Set(await runtime.state().members.compactMap { NodeID(hex: $0.id) })
            #expect(tracked.isSubset(of: members))
            #expect(!tracked.contains(NodeID(1_000)))
        }
    }
}
