import RaftCore
import Testing

import KVStore
import WRaftSupport

/// The plainest possible model of the store: a dictionary and a sorted listing.
struct ReferenceStore {
    var values: [[UInt8]: (value: [UInt8], index: LogIndex, term: Term)] = [:]
    var results: [ClientRequestID: KVResult] = [:]
    /// The store's revision; nil until the first command (which starts it at its index - 1).
    var revision: UInt64? = nil

    mutating func apply(_ command: KVCommand, index: LogIndex, term: Term) -> KVResult {
        // The random streams below never exceed the session window, so every retry is remembered.
        if let first = results[command.id] { return first }
        var revision = self.revision ?? index.rawValue - 1
        defer { self.revision = revision }
        guard let operation = command.operation else { return .rejected(.leaseNotFound) }
        let key = operation.key
        let current = values[key]
        let holds: Bool
        switch operation.condition {
        case .none: holds = true
        case .valueEquals(let expected): holds = current?.value == expected
        case .indexEquals(let expected): holds = (current?.index ?? .zero) == expected
        }
        let result: KVResult
        if !holds {
            result = .compareFailed(currentIndex: current?.index)
        } else {
            switch operation {
            case .put(_, let value, _):
                values[key] = (value, index, term)
                revision += 1
                result = .put(index: index, term: term, revision: revision)
            case .delete:
                let existed = values.removeValue(forKey: key) != nil
                if existed { revision += 1 }
                result = .deleted(index: index, term: term, revision: revision, existed: existed)
            }
        }
        results[command.id] = result
        return result
    }

    func list(prefix: [UInt8], limit: Int) -> [[UInt8]] {
        let matching = values.keys.filter { $0.starts(with: prefix) }.sorted { $0.lexicographicallyPrecedes($1) }
        return Array(matching.prefix(limit))
    }
}

/// Random commands over a small key space, with retries of earlier requests mixed in.
struct RandomCommands {
    var generator: SplitMix64
    var issued: [KVCommand] = []
    var sequences: [UInt64: UInt64] = [:]
    let keys: [[UInt8]] = ["a", "ab", "abc", "b", "ba", "c", "\u{0}", "é"].map { Array($0.utf8) }
    let values: [[UInt8]] = [[], [1], [1, 2], Array("hello".utf8), Array(repeating: 0xEE, count: 100)]

    init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    mutating func next(currentIndexOf current: ([UInt8]) -> LogIndex?) -> KVCommand {
        if !issued.isEmpty && Int.random(in: 0..<6, using: &generator) == 0 {
            // A retry of a recent request (within the session window of 64).
            let recent = issued.suffix(20)
            return recent[recent.startIndex + Int.random(in: 0..<recent.count, using: &generator)]
        }
        let client = UInt64.random(in: 1...6, using: &generator)
        let sequence = (sequences[client] ?? 0) + 1
        sequences[client] = sequence
        let key = pick(keys)
        let command = KVCommand(id: .init(client: client, sequence: sequence), operation: operation(on: key, current: current(key)))
        issued.append(command)
        return command
    }

    private mutating func operation(on key: [UInt8], current: LogIndex?) -> KVOperation {
        let condition: KVCondition
        switch Int.random(in: 0..<5, using: &generator) {
        case 0: condition = .valueEquals(pick(values))
        case 1: condition = .indexEquals(current ?? .zero)
        case 2: condition = .indexEquals(LogIndex(UInt64.random(in: 0...3, using: &generator)))
        default: condition = .none
        }
        if Int.random(in: 0..<4, using: &generator) == 0 {
            return .delete(key: key, condition: condition)
        }
        return .put(key: key, value: pick(values), condition: condition)
    }

    private mutating func pick(_ options: [[UInt8]]) -> [UInt8] {
        options[Int.random(in: 0..<options.count, using: &generator)]
    }
}

@Suite struct KVSnapshotTests {
    @Test func emptyStoreRoundTrips() throws {
        let store = KVStore()
        let restored = try KVStore(snapshot: store.snapshot())
        #expect(restored == store)
        #expect(restored.appliedIndex == .zero)
        #expect(restored.sessionLimits == KVSessionLimits())
    }

    /// Seeded random streams: the store agrees with the reference model on every result, and
    /// a restore at random points yields an equal store that carries on identically.
    @Test func randomStreamsMatchModelAndSurviveRestore() throws {
        for seed in testSeeds(defaultCount: 20) {
            var commands = RandomCommands(seed: seed)
            var store = KVStore()
            var model = ReferenceStore()
            var index = LogIndex.zero
            var term = Term(1)
            for step in 0..<600 {
                index = index.next
                if Int.random(in: 0..<50, using: &commands.generator) == 0 { term = term.next }
                if Int.random(in: 0..<30, using: &commands.generator) == 0 {
                    #expect(store.apply(Entry(term: term, index: index, kind: .noop)) == nil)
                    continue
                }
                let command = commands.next { model.values[$0]?.index }
                let applied = store.apply(Entry(term: term, index: index, data: command.encoded()))
                let expected = model.apply(command, index: index, term: term)
                #expect(applied?.0 == command.id, "seed=\(seed) step=\(step)")
                guard applied?.1 == expected else {
                    Issue.record("seed=\(seed) step=\(step): \(String(describing: applied?.1)) != \(expected)")
                    break
                }
                if step % 53 == 0 {
                    let snapshot = store.snapshot()
                    let restored = try KVStore(snapshot: snapshot)
                    #expect(restored == store, "seed=\(seed) step=\(step)")
                    #expect(restored.snapshot() == snapshot, "seed=\(seed) step=\(step)")
                    store = restored
                }
            }
            #expect(store.count == model.values.count, "seed=\(seed)")
            for (key, expected) in model.values {
                let actual = store.get(key)
                #expect(actual?.value == expected.value && actual?.index == expected.index && actual?.term == expected.term, "seed=\(seed)")
            }
            for prefix in commands.keys + [[]] {
                for limit in [0, 1, 3, 100] {
                    let listed = store.list(prefix: prefix, limit: limit)
                    let expected = model.list(prefix: prefix, limit: limit + 1)
                    #expect(listed.items.map(\.key) == Array(expected.prefix(limit)), "seed=\(seed)")
                    #expect(listed.hasMore == (expected.count > limit), "seed=\(seed)")
                }
            }
        }
    }

    @Test func restoredStoreRequiresTheNextIndex() throws {
        var store = KVStore()
        var feeder = EntryFeeder()
        _ = store.apply(feeder.command(.put(key: bytes("k"), value: bytes("v"), condition: .none)))
        _ = store.apply(feeder.entry(.noop))
        var restored = try KVStore(snapshot: store.snapshot())
        #expect(restored.appliedIndex == 2)
        let retry = restored.apply(feeder.command(.put(key: bytes("k"), value: bytes("w"), condition: .none), id: .init(client: 1, sequence: 1)))
        // The session came through the snapshot: the retry is answered, not applied.
        #expect(retry?.1 == .put(index: 1, term: 1, revision: 1))
        #expect(restored.get(bytes("k"))?.value == bytes("v"))
    }

    @Test func sessionLimitsTravelInTheSnapshot() throws {
        let limits = KVSessionLimits(sessionsMax: 2, resultsPerSessionMax: 1)
        let restored = try KVStore(snapshot: KVStore(sessionLimits: limits).snapshot())
        #expect(restored.sessionLimits == limits)
    }

    private func sampleSnapshot() -> [UInt8] {
        var store = KVStore()
        var feeder = EntryFeeder()
        for key in ["x", "y", "z"] {
            _ = store.apply(feeder.command(.put(key: bytes(key), value: bytes(key + key), condition: .none)))
        }
        _ = store.apply(feeder.command(.put(key: bytes("x"), value: [], condition: .valueEquals(bytes("nope")))))
        _ = store.apply(feeder.command(.delete(key: bytes("y"), condition: .none)))
        return store.snapshot()
    }

    @Test func damagedSnapshotsThrow() {
        let snapshot = sampleSnapshot()
        #expect(throws: KVCodecError.badMagic) { try KVStore(snapshot: [0x57, 0x4B, 0x56, 0x58, 1, 0, 0, 0, 0]) }
        #expect(throws: KVCodecError.self) { try KVStore(snapshot: []) }
        for length in 0..<snapshot.count {
            #expect(throws: KVCodecError.self) { try KVStore(snapshot: Array(snapshot[..<length])) }
        }
        for position in 0..<snapshot.count {
            var flipped = snapshot
            flipped[position] ^= 0x10
            #expect(throws: KVCodecError.self) { try KVStore(snapshot: flipped) }
        }
    }

    /// Forged snapshots with a valid checksum: bad contents are refused, never trusted.
    @Test func forgedSnapshotsWithValidChecksumThrow() {
        func sealed(_ body: [UInt8]) -> [UInt8] {
            var bytes = Array("WKVS".utf8) + body
            let crc = crc32c(bytes)
            bytes += (0..<4).map { UInt8(truncatingIfNeeded: crc >> UInt32($0 * 8)) }
            return bytes
        }
        func le(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64($0 * 8)) } }
        let header = [UInt8(1)] + le(10) + le(4) + le(5)
        // A huge key count with nothing behind it.
        #expect(throws: KVCodecError.self) { try KVStore(snapshot: sealed(header + le(.max) + le(0))) }
        // Keys out of order.
        let key = { (k: UInt8) -> [UInt8] in [1, 0, 0, 0, k, 0, 0, 0, 0] + le(1) + le(1) }
        #expect(throws: KVCodecError.invalidContent("keys not in strictly ascending order")) {
            try KVStore(snapshot: sealed(header + le(2) + key(2) + key(1) + le(0)))
        }
        // A key modified after the applied index.
        let late = [1, 0, 0, 0, 7, 0, 0, 0, 0] + le(9) + le(1)
        #expect(throws: KVCodecError.self) { try KVStore(snapshot: sealed(header + le(1) + late + le(0))) }
        // Session limits of zero.
        #expect(throws: KVCodecError.self) { try KVStore(snapshot: sealed([1] + le(0) + le(4) + le(5) + le(0) + le(0))) }
        // A well-formed forged snapshot is accepted.
        #expect((try? KVStore(snapshot: sealed(header + le(2) + key(1) + key(2) + le(0))))?.count == 2)
        // Unsupported version.
        #expect(throws: KVCodecError.unsupportedVersion(9)) {
            try KVStore(snapshot: sealed([9] + le(10) + le(4) + le(5) + le(0) + le(0)))
        }
    }

    @Test func garbageSnapshotsNeverCrash() {
        let valid = sampleSnapshot()
        for seed in testSeeds(defaultCount: 20) {
            var generator = SplitMix64(seed: seed)
            for _ in 0..<200 {
                var bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 4..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                // Re-seal so the decoder gets past the checksum and must judge the contents.
                let body = Array(bytes[..<(bytes.count - 4)])
                let crc = crc32c(body)
                bytes = body + (0..<4).map { UInt8(truncatingIfNeeded: crc >> UInt32($0 * 8)) }
                if let store = try? KVStore(snapshot: bytes) {
                    #expect(store.snapshot() == bytes, "seed=\(seed)")
                }
            }
        }
    }
}

/// CRC-32C, written independently of the module's, to forge sealed snapshots.
func crc32c(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}
