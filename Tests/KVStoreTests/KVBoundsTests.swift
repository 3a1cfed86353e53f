import RaftCore
import Testing

import KVStore

/// A snapshot from a leader or from disk is outside input: an applied index above
/// `LogIndex.wireMax` (2^48) is refused, so applying the next entry cannot overflow.
@Suite struct KVSnapshotBoundsTests {
    @Test func anAppliedIndexAboveTheBoundIsRefused() throws {
        for index: UInt64 in [UInt64.max, (1 << 48) + 1] {
            var store = KVStore()
            _ = store.apply(Entry(term: 1, index: LogIndex(index), kind: .noop))
            #expect(throws: KVCodecError.self, "applied index \(index)") { try KVStore(snapshot: store.snapshot()) }
        }
        var atBound = KVStore()
        _ = atBound.apply(Entry(term: 1, index: LogIndex(1 << 48), kind: .noop))
        #expect(try KVStore(snapshot: atBound.snapshot()).appliedIndex == LogIndex(1 << 48))
    }
}
