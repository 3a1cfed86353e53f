import RaftCore
import Testing

import KVStore

/// Bytes written by the build before revisions (format 1 commands and snapshot), kept as a
/// fixture: a WAL and a snapshot of that build must still decode and apply, and every replica
/// must reach the same revisions whichever of them it starts from.
///
/// Made by today's (pre-revision) encoder: commands at indexes 3-8 of term 2 (client 7: put
/// alpha=one, put beta=two, put alpha=uno if value=one; client 8: delete beta, put gamma=three
/// if absent, put alpha=x if index=99, which fails), then a noop at 9, and the snapshot after it.
enum LegacyFixture {
    static let commands: [String] = [
        "01070000000000000001000000000000000105000000616c706861030000006f6e6500",
        "01070000000000000002000000000000000104000000626574610300000074776f00",
        "01070000000000000003000000000000000105000000616c70686103000000756e6f01030000006f6e65",
        "010800000000000000010000000000000002040000006265746100",
        "0108000000000000000200000000000000010500000067616d6d61050000007468726565020000000000000000",
        "01080000000000000003000000000000000105000000616c7068610100000078026300000000000000"
    ]

    static let snapshot: String =
        "574b565301102700000000000040000000000000000900000000000000020000000000000005000000616c7068610300"
        + "0000756e6f050000000000000002000000000000000500000067616d6d61050000007468726565070000000000000002"
        + "000000000000000200000000000000070000000000000005000000000000000000000000000000030000000000000001"
        + "000000000000000103000000000000000200000000000000020000000000000001040000000000000002000000000000"
        + "000300000000000000010500000000000000020000000000000008000000000000000800000000000000000000000000"
        + "000003000000000000000100000000000000020600000000000000020000000000000001020000000000000001070000"
        + "00000000000200000000000000030000000000000003050000000000000028b67ac7"

    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return result
    }

    static func entries() -> [Entry] {
        commands.enumerated().map { offset, hex in
            Entry(term: Term(2), index: LogIndex(UInt64(3 + offset)), kind: .command, data: bytes(hex))
        } + [Entry(term: Term(2), index: LogIndex(9), kind: .noop)]
    }
}

@Suite struct KVLegacyFormatTests {
    @Test func oldCommandsDecodeAndApplyAsTheyDid() throws {
        var store = KVStore()
        var results: [KVResult?] = []
        for entry in LegacyFixture.entries() { results.append(store.apply(entry)?.1) }
        #expect(results[0] == .put(index: 3, term: 2, revision: 3))
        #expect(results[3] == .deleted(index: 6, term: 2, revision: 6, existed: true))
        #expect(results[5] == .compareFailed(currentIndex: 5))
        #expect(store.get(Array("alpha".utf8))?.value == Array("uno".utf8))
        #expect(store.get(Array("alpha".utf8))?.index == 5)
        #expect(store.get(Array("beta".utf8)) == nil)
        #expect(!store.tracksRevisions && store.revision == 9)
    }

    @Test func anOldSnapshotRestoresToTheStateTheOldLogGives() throws {
        var replayed = KVStore()
        for entry in LegacyFixture.entries() { _ = replayed.apply(entry) }
        let restored = try KVStore(snapshot: LegacyFixture.bytes(LegacyFixture.snapshot))
        #expect(restored == replayed)
        #expect(restored.appliedIndex == 9 && restored.revision == 9)
        // The sessions came along: a retry of client 7's first put is answered, not applied.
        var again = restored
        let retry = Entry(term: Term(3), index: LogIndex(10), kind: .command, data: LegacyFixture.bytes(LegacyFixture.commands[0]))
        #expect(again.apply(retry)?.1 == .put(index: 3, term: 2, revision: 3))
    }

    @Test func replicasStartingFromAnOldSnapshotOrAnOldLogReachTheSameRevisions() throws {
        var fromLog = KVStore()
        for entry in LegacyFixture.entries() { _ = fromLog.apply(entry) }
        var fromSnapshot = try KVStore(snapshot: LegacyFixture.bytes(LegacyFixture.snapshot))
        let next: [Entry] = [
            Entry(term: Term(3), index: LogIndex(10), kind: .noop),
            Entry(
                term: Term(3), index: LogIndex(11), kind: .command,
                data: KVCommand(id: ClientRequestID(client: 9, sequence: 1), request: .put(key: Array("alpha".utf8), value: [1], condition: .none, lease: 0)).encoded()),
            Entry(
                term: Term(3), index: LogIndex(12), kind: .command,
                data: LegacyFixture.bytes(LegacyFixture.commands[1])),  // an old command after the switch
            Entry(
                term: Term(3), index: LogIndex(13), kind: .command,
                data: KVCommand(id: ClientRequestID(client: 9, sequence: 2), request: .put(key: Array("delta".utf8), value: [2], condition: .none, lease: 0)).encoded()),
        ]
        for entry in next {
            _ = fromLog.apply(entry)
            _ = fromSnapshot.apply(entry)
            #expect(fromLog == fromSnapshot)
            #expect(fromLog.snapshot() == fromSnapshot.snapshot())
        }
        // The first command of format 2 switched revisions on at its index; then one a write.
        #expect(fromLog.tracksRevisions && fromLog.revision == 12)
        let alpha = try #require(try fromLog.entry(Array("alpha".utf8)))
        #expect(alpha.createRevision == 5 && alpha.modRevision == 11 && alpha.version == 2)
        #expect(fromLog.compactRevision == 10)
    }
}
