import Foundation
import KVStore
import RaftCore
import RaftStorage
import Testing
import WRaftSupport

@testable import WRaftServer

/// The runtime's small pieces: options, address book and its encoding, control messages,
/// faults, pending-request bounds, request ids.
struct RuntimeUnitTests {
    @Test func defaultOptionsAreValidAndBadOnesAreRefused() throws {
        let options = NodeOptions(dataDirectory: "/tmp/x")
        try options.validate()
        #expect(options.heartbeatTicks == 10)
        #expect(options.electionTimeoutTicks == 30)
        #expect(options.electionTimeoutJitterTicks == 15)
        #expect(options.raftAddress == "127.0.0.1:10002")
        var advertised = options
        advertised.host = "0.0.0.0"
        advertised.advertisedHost = "10.1.2.3"
        #expect(advertised.httpAddress == "10.1.2.3:8081")

        let broken: [(inout NodeOptions) -> Void] = [
            { $0.dataDirectory = "" },
            { $0.httpPort = 70_000 },
            { $0.raftPort = $0.httpPort },
            { $0.tickMs = 0 },
            { $0.electionTimeoutMs = $0.heartbeatMs },
            { $0.heartbeatMs = 1 },
            { $0.pendingWritesMax = 0 },
            { $0.pendingWriteBytesMax = 1_000 },
            { $0.snapshotEntries = 0 },
            { $0.advertisedHost = "" },
        ]
        for breakIt in broken {
            var bad = options
            breakIt(&bad)
            #expect(throws: NodeOptionsError.self) { try bad.validate() }
        }
    }

    @Test func addressBooksMergeAndEncodeDeterministically() throws {
        var first = AddressBook([NodeID(1): MemberAddress(raftAddress: "h:1", httpAddress: "h:2")])
        let second = AddressBook([
            NodeID(2): MemberAddress(raftAddress: "h:3", httpAddress: "h:4"),
            NodeID(1): MemberAddress(raftAddress: "h:1", httpAddress: "h:2"),
        ])
        let isChanged = first.merge(second)
        let isChangedAgain = first.merge(second)
        #expect(isChanged)
        #expect(!isChangedAgain)
        #expect(first.ids == [NodeID(1), NodeID(2)])
        #expect(first.member(atRaftAddress: "h:3") == NodeID(2))

        let bytes = first.encoded()
        #expect(try AddressBook(decoding: bytes) == first)
        // Same members in another insertion order: the same bytes (founders must agree).
        var reordered = AddressBook()
        reordered.set(NodeID(2), MemberAddress(raftAddress: "h:3", httpAddress: "h:4"))
        reordered.set(NodeID(1), MemberAddress(raftAddress: "h:1", httpAddress: "h:2"))
        #expect(reordered.encoded() == bytes)
        #expect(try AddressBook(decoding: []) == AddressBook())
        #expect(first.restricted(to: [NodeID(2)]).ids == [NodeID(2)])
    }

    @Test func addressBookDecodingRefusesGarbageWithoutCrashing() {
        let valid = AddressBook([NodeID(9): MemberAddress(raftAddress: "a:1", httpAddress: "a:2")]).encoded()
        for length in 1..<valid.count {
            #expect(throws: AddressBookDecodingError.self) { try AddressBook(decoding: Array(valid.prefix(length))) }
        }
        #expect(throws: AddressBookDecodingError.self) { try AddressBook(decoding: [9, 0, 0, 0, 0]) }
        #expect(throws: AddressBookDecodingError.self) { try AddressBook(decoding: [1, 255, 255, 255, 255]) }
        var generator = SplitMix64(seed: 42)
        for _ in 0..<2_000 {
            let garbage = (0..<Int.random(in: 1...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? AddressBook(decoding: garbage)
        }
    }

    @Test func controlMessagesRoundTripAndErrorsCrossTheWire() throws {
        let requests: [ControlRequest] = [
            .merge(members: [MemberRecord(id: "00000000000000ff", raftAddress: "h:1", httpAddress: "h:2")]),
            .start(clusterID: "0000000000000abc", members: []),
            .join(member: MemberRecord(id: "1", raftAddress: "h:1", httpAddress: "h:2"), timeoutMs: 5, isForwarded: true),
            .invite(raftAddress: "h:1", timeoutMs: 3),
            .removeMember(id: "2", timeoutMs: 4, isForwarded: false),
            .transferLeadership(to: "3", isForwarded: false),
        ]
        for request in requests {
            #expect(try ControlCoding.decode(ControlRequest.self, from: ControlCoding.encode(request)) == request)
        }
        #expect(throws: ControlDecodingError.self) { try ControlCoding.decode(ControlRequest.self, from: Array("{".utf8)) }
        // Every case (value_too_large and quota_exceeded used to come back as bad_request).
        let errors: [NodeError] = [
            .badRequest(code: .badID, message: "b"), .valueTooLarge(bytes: 9, limit: 8), .notFound(message: "y"),
            .compareFailed(message: "c"), .clusterConflict(message: "x"), .wrongState(code: .starting, message: "z"),
            .noLeader(retryAfterMs: 100), .overloaded(retryAfterMs: 7), .unknownOutcome(message: "u"), .faultsDisabled,
            .peerUnreachable(message: "p"), .internalError(message: "i"), .quotaExceeded(bytes: 5, limit: 4),
        ]
        for error in errors {
            let decoded = try ControlCoding.decode(ControlFailure.self, from: ControlCoding.encode(ControlFailure(error)))
            #expect(decoded.nodeError == error)
            #expect(decoded.nodeError.code == error.code)
        }
        #expect(throws: ControlDecodingError.self) {
            try AddressBook(records: [MemberRecord(id: "zz", raftAddress: "h:1", httpAddress: "h:2")])
        }
        // A member record's etcd address (an optional field, from outside) passes the same
        // address checks as the raft and HTTP ones: a huge or portless one refuses the record.
        for bad in [String(repeating: "a", count: 100_000) + ":1", "no-port", "h:99999", ""] {
            #expect(throws: ControlDecodingError.self) {
                try MemberRecord(id: "1", raftAddress: "h:1", httpAddress: "h:2", etcdAddress: bad).validated()
            }
        }
        let announced = try MemberRecord(id: "1", raftAddress: "h:1", httpAddress: "h:2", etcdAddress: "h:3").validated()
        #expect(announced.1.etcdAddress == "h:3")
        #expect(ClusterIDFormat.parse(ClusterIDFormat.string(0xdead_beef)) == 0xdead_beef)
    }

    @Test func faultStateDecidesDeterministicallyFromItsSeed() {
        var first = FaultState(seed: 7)
        var second = FaultState(seed: 7)
        first.drop(rate: 0.5)
        second.drop(rate: 0.5)
        let decisions = (0..<200).map { _ in first.dropsOutgoing(to: NodeID(2)) }
        #expect(decisions == (0..<200).map { _ in second.dropsOutgoing(to: NodeID(2)) })
        let dropped = decisions.filter { $0 }.count
        #expect((50...150).contains(dropped))

        var faults = FaultState(seed: 1)
        #expect(faults.isEmpty)
        faults.isolate([NodeID(3)])
        faults.isolate([NodeID(4)])
        #expect(faults.dropsIncoming(from: NodeID(3)) && faults.dropsIncoming(from: NodeID(4)))
        #expect(!faults.dropsIncoming(from: NodeID(5)))
        faults.delay(ms: 10, jitterMs: 5)
        for _ in 0..<100 { #expect((5...15).contains(faults.outgoingDelayMs())) }
        faults.isolate(nil)
        let isDropped = faults.dropsOutgoing(to: NodeID(5))
        #expect(isDropped)
        faults.heal()
        #expect(faults.isEmpty)
        #expect(faults.descriptions.isEmpty)
    }

    @Test func pendingTablesAreBoundedInCountAndBytes() {
        var table = PendingTable<[UInt8]>(countMax: 3, weightMax: 10) { $0.count }
        table.insert([1, 2, 3, 4], at: 1)
        table.insert([1, 2, 3, 4], at: 2)
        #expect(table.isFull(adding: 3))
        #expect(!table.isFull(adding: 2))
        table.insert([1, 2], at: 3)
        #expect(table.isFull())
        #expect(table.weight == 10)
        #expect(table.remove(2) == [1, 2, 3, 4])
        #expect(table.weight == 6)
        let removed = table.removeAll { $0.count == 2 }
        #expect(removed == [[1, 2]])
        #expect(table.count == 1)
        #expect(table.weight == 4)
    }

    @Test func requestIDsMapBackToTheirWriteAndOnlyForThisIncarnation() async throws {
        let cluster = TestCluster(size: 1)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            let runtime = try cluster.nodes[0].runtime
            for sequence: UInt64 in [1, 2, 63, 64, 65, 1_000_000] {
                let id = await runtime.requestID(forWrite: sequence)
                #expect(await runtime.writeSequence(of: id) == sequence)
            }
            let foreign = ClientRequestID(client: await runtime.incarnation ^ (1 << 40), sequence: 1)
            #expect(await runtime.writeSequence(of: foreign) == nil)
        }
    }
}
