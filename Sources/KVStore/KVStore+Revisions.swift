import RaftCore

/// Where and when a write happens: the entry carrying it and the revision it makes.
struct WriteStamp {
    var index: LogIndex
    var term: Term
    /// `revision + 1` while the command runs; the store's revision once it changed a key.
    var revision: UInt64
}

/// A lease as the replicated state knows it: its TTL and its keys. Its deadline is not here:
/// only the leader's runtime keeps time (issue 12: no follower's clock decides anything).
struct LeaseRecord: Sendable, Equatable {
    var ttlSeconds: Int64
    var keys: Set<StoredKey> = []
}

// MARK: - Writes at a revision

extension KVStore {
    /// Puts `value` at `key` at `stamp.revision`, moving the key between leases, and records
    /// the change in the history.
    mutating func putKey(_ key: StoredKey, value: [UInt8], lease: Int64, stamp: WriteStamp) {
        precondition(tracksRevisions, "KVStore: revisions are tracked before a write at a revision")
        precondition(lease == 0 || leases[lease] != nil, "KVStore: a key is attached only to an existing lease")
        let previous = items[key]
        let stored = StoredValue(
            value: value, index: stamp.index, term: stamp.term,
            createRevision: previous?.createRevision ?? stamp.revision, modRevision: stamp.revision,
            version: (previous?.version ?? 0) + 1, lease: lease)
        items.updateValue(stored, forKey: key)
        if let previous {
            byteCount += value.count - previous.value.count
            if previous.lease != 0 && previous.lease != lease { leases[previous.lease]?.keys.remove(key) }
        } else {
            byteCount += Self.cost(ofKey: key.bytes) + value.count
        }
        if lease != 0 { leases[lease]?.keys.insert(key) }
        history.append(
            HistoryEvent(kind: .put, revision: stamp.revision, key: key.bytes, stored: stored, previous: previous))
    }

    /// Deletes `key` at `stamp.revision`; false when it did not exist.
    mutating func deleteKey(_ key: StoredKey, stamp: WriteStamp) -> Bool {
        precondition(tracksRevisions, "KVStore: revisions are tracked before a write at a revision")
        guard let removed = items.removeValue(forKey: key) else { return false }
        byteCount -= Self.cost(ofKey: key.bytes) + removed.value.count
        if removed.lease != 0 { leases[removed.lease]?.keys.remove(key) }
        let tombstone = StoredValue(
            value: [], index: stamp.index, term: stamp.term, createRevision: 0, modRevision: stamp.revision,
            version: 0, lease: 0)
        history.append(
            HistoryEvent(kind: .delete, revision: stamp.revision, key: key.bytes, stored: tombstone, previous: removed))
        return true
    }

    /// Ends a command: if it changed a key, the revision moves on to its stamp, and the oldest
    /// history goes while the history is over its bound (never the revision just written).
    mutating func finishRevision(_ stamp: WriteStamp, changed: Bool) {
        guard changed else { return }
        precondition(stamp.revision == revision + 1, "KVStore: one revision per command that writes")
        revision = stamp.revision
        while history.byteCount > historyBytesMax, let oldest = history.oldestRevision, oldest < revision {
            history.drop(through: oldest)
            compactRevision = oldest
        }
    }

    mutating func compact(to target: UInt64) -> KVResult {
        guard target <= revision else { return .rejected(.futureRevision) }
        guard target >= compactRevision else { return .rejected(.compacted) }
        history.drop(through: target)
        compactRevision = target
        return .compacted(revision: target)
    }

    mutating func grantLease(id requested: Int64, ttlSeconds: Int64, index: LogIndex) -> KVResult {
        guard leases.count < Self.leasesMax else { return .rejected(.tooManyLeases) }
        var id = requested
        if id == 0 {
            // The store chooses: the entry's index, or the next free id above it. Every replica
            // applies the same entry with the same leases, so every replica chooses alike.
            id = Int64(truncatingIfNeeded: index.rawValue & UInt64(Int64.max))
            if id == 0 { id = 1 }
            while leases[id] != nil { id = id == Int64.max ? 1 : id + 1 }
        } else if leases[id] != nil {
            return .rejected(.leaseExists)
        }
        leases[id] = LeaseRecord(ttlSeconds: ttlSeconds)
        return .leaseGranted(id: id, ttlSeconds: ttlSeconds)
    }

    // MARK: Transactions

    mutating func execute(_ txn: KVTxn, stamp: WriteStamp) -> KVResult {
        let succeeded = txn.compares.allSatisfy { holds($0) }
        let operations = succeeded ? txn.success : txn.failure
        if let rejection = rejection(of: operations) {
            // Checked before anything runs, so a refused transaction changes nothing.
            return .rejected(rejection)
        }
        var responses: [KVTxnResponse] = []
        var changed = false
        var rangeBytesLeft = KVTxn.rangeBytesMax
        for operation in operations {
            switch operation {
            case .put(let key, let value, let lease):
                putKey(StoredKey(bytes: key), value: value, lease: lease, stamp: stamp)
                changed = true
                responses.append(.put)
            case .delete(let key, let rangeEnd):
                let doomed = keys(in: .etcd(key: key, rangeEnd: rangeEnd))
                for key in doomed where deleteKey(key, stamp: stamp) { changed = true }
                responses.append(.delete(deleted: doomed.count))
            case .range(let key, let rangeEnd, let limit):
                let keysMax = limit == 0 ? KVTxn.rangeKeysMax : Int(limit)
                let found = currentRange(.etcd(key: key, rangeEnd: rangeEnd), after: nil, limit: keysMax, bytesMax: rangeBytesLeft)
                rangeBytesLeft -= found.entries.reduce(0) { $0 + $1.value.count }
                responses.append(.range(entries: found.entries, more: found.hasMore))
            }
        }
        finishRevision(stamp, changed: changed)
        return .txn(KVTxnResult(succeeded: succeeded, revision: revision, responses: responses))
    }

    /// Why a list of operations cannot run: a lease that does not exist, or a key written twice.
    private func rejection(of operations: [KVTxnOperation]) -> KVRejection? {
        var putKeys: Set<[UInt8]> = []
        var deleteRanges: [KVKeyRange] = []
        for operation in operations {
            switch operation {
            case .put(let key, _, let lease):
                guard lease == 0 || leases[lease] != nil else { return .leaseNotFound }
                guard putKeys.insert(key).inserted else { return .duplicateKey }
            case .delete(let key, let rangeEnd):
                deleteRanges.append(.etcd(key: key, rangeEnd: rangeEnd))
            case .range:
                break
            }
        }
        // etcd's rule: a put may not fall in a range the same transaction deletes.
        for key in putKeys where deleteRanges.contains(where: { $0.contains(key) }) { return .duplicateKey }
        return nil
    }

    private func holds(_ compare: KVCompare) -> Bool {
        let current = items[StoredKey(bytes: compare.key)]
        let order: Int
        switch compare.target {
        case .value(let expected):
            // etcd: a value compare on a missing key is false, whatever the operator.
            guard let current else { return false }
            order = current.value == expected ? 0 : (current.value.lexicographicallyPrecedes(expected) ? -1 : 1)
        case .version(let expected): order = Self.order(Int64(clamping: current?.version ?? 0), expected)
        case .createRevision(let expected): order = Self.order(Int64(clamping: current?.createRevision ?? 0), expected)
        case .modRevision(let expected): order = Self.order(Int64(clamping: current?.modRevision ?? 0), expected)
        case .lease(let expected): order = Self.order(current?.lease ?? 0, expected)
        }
        switch compare.comparison {
        case .equal: return order == 0
        case .notEqual: return order != 0
        case .less: return order < 0
        case .greater: return order > 0
        }
    }

    private static func order(_ lhs: Int64, _ rhs: Int64) -> Int { lhs == rhs ? 0 : (lhs < rhs ? -1 : 1) }

    /// Every current key in `range`, ascending.
    func keys(in range: KVKeyRange) -> [StoredKey] {
        var found: [StoredKey] = []
        items.forEach(from: StoredKey(bytes: range.start)) { key, _ in
            guard range.contains(key.bytes) else { return false }
            found.append(key)
            return true
        }
        return found
    }
}

// MARK: - Reads at a revision

extension KVStore {
    /// The key as it was at `revision` (nil: now), or nil when it did not exist then.
    public func entry(_ key: [UInt8], atRevision requested: UInt64? = nil) throws(KVReadError) -> KVEntry? {
        let at = try checkedRevision(requested)
        let storedKey = StoredKey(bytes: key)
        if at == revision { return items[storedKey]?.entry(key: key) }
        let states = history.states(after: at, within: .key(key))
        if let state = states[storedKey] { return state?.entry(key: key) }
        return items[storedKey]?.entry(key: key)
    }

    /// Up to `limit` keys of `range` as they were at `revision` (nil: now), ascending, after
    /// the key `after` when given (a continuation), and whether more follow.
    public func range(_ range: KVKeyRange, after: [UInt8]? = nil, atRevision requested: UInt64? = nil, limit: Int)
        throws(KVReadError) -> (entries: [KVEntry], hasMore: Bool)
    {
        let at = try checkedRevision(requested)
        if at == revision { return currentRange(range, after: after, limit: limit, bytesMax: .max) }
        let states = history.states(after: at, within: range)
        let changedKeys = states.keys.filter { key in after.map { after in after.lexicographicallyPrecedes(key.bytes) } ?? true }
            .sorted()
        var entries: [KVEntry] = []
        var hasMore = false
        var changedPosition = 0
        // Emits a key's state at `at` (an override from the history, or its current value).
        func emit(_ key: StoredKey, _ stored: StoredValue?) -> Bool {
            guard let stored else { return true }
            guard entries.count < limit else {
                hasMore = true
                return false
            }
            entries.append(stored.entry(key: key.bytes))
            return true
        }
        let start = after.map { StoredKey(bytes: $0) } ?? StoredKey(bytes: range.start)
        var keepGoing = true
        items.forEach(from: max(start, StoredKey(bytes: range.start))) { key, stored in
            if let after, key.bytes == after { return true }
            guard range.contains(key.bytes) else { return false }
            while changedPosition < changedKeys.count, changedKeys[changedPosition] < key {
                let changed = changedKeys[changedPosition]
                changedPosition += 1
                guard emit(changed, states[changed] ?? nil) else {
                    keepGoing = false
                    return false
                }
            }
            if changedPosition < changedKeys.count, changedKeys[changedPosition] == key {
                changedPosition += 1
                keepGoing = emit(key, states[key] ?? nil)
            } else {
                keepGoing = emit(key, stored)
            }
            return keepGoing
        }
        while keepGoing, changedPosition < changedKeys.count {
            let changed = changedKeys[changedPosition]
            changedPosition += 1
            keepGoing = emit(changed, states[changed] ?? nil)
        }
        return (entries, hasMore)
    }

    /// The changes to keys of `range` (nil: every key) at revisions from `revision` on, oldest
    /// first, at most `limit`, never splitting a revision unless one revision alone exceeds it.
    /// A watch reads its events here.
    public func events(fromRevision: UInt64, in range: KVKeyRange?, limit: Int) throws(KVReadError) -> [KVEvent] {
        guard fromRevision > compactRevision || (fromRevision == 0 && compactRevision == 0) else {
            throw .compacted(compactRevision: compactRevision)
        }
        var found: [KVEvent] = []
        let events = history.events
        var position = history.firstPosition(atOrAbove: fromRevision)
        while position < events.count {
            let event = events[position]
            if found.count >= limit, let last = found.last, last.revision != event.revision { break }
            if range.map({ $0.contains(event.key) }) ?? true {
                found.append(
                    KVEvent(
                        kind: event.kind, revision: event.revision, entry: event.stored.entry(key: event.key),
                        previous: event.previous?.entry(key: event.key)))
            }
            position += 1
        }
        return found
    }

    private func checkedRevision(_ requested: UInt64?) throws(KVReadError) -> UInt64 {
        guard let requested, requested != 0 else { return revision }
        guard requested <= revision else { throw .futureRevision(currentRevision: revision) }
        guard requested >= compactRevision else { throw .compacted(compactRevision: compactRevision) }
        return requested
    }

    /// Up to `limit` current keys of `range` after `after`, stopping early once their values
    /// pass `bytesMax` (then `hasMore`).
    func currentRange(_ range: KVKeyRange, after: [UInt8]?, limit: Int, bytesMax: Int)
        -> (entries: [KVEntry], hasMore: Bool)
    {
        var entries: [KVEntry] = []
        var hasMore = false
        var bytes = 0
        let start = after.map { max(StoredKey(bytes: $0), StoredKey(bytes: range.start)) } ?? StoredKey(bytes: range.start)
        items.forEach(from: start) { key, stored in
            if let after, key.bytes == after { return true }
            guard range.contains(key.bytes) else { return false }
            guard entries.count < limit, bytes + stored.value.count <= bytesMax || entries.isEmpty else {
                hasMore = true
                return false
            }
            bytes += stored.value.count
            entries.append(stored.entry(key: key.bytes))
            return true
        }
        return (entries, hasMore)
    }

    // MARK: Leases

    /// A lease's TTL and its keys (ascending), or nil when it does not exist.
    public func lease(_ id: Int64) -> (ttlSeconds: Int64, keys: [[UInt8]])? {
        guard let lease = leases[id] else { return nil }
        return (lease.ttlSeconds, lease.keys.sorted().map(\.bytes))
    }

    /// Every lease id with its TTL, ascending by id.
    public var leaseList: [(id: Int64, ttlSeconds: Int64)] {
        leases.sorted { $0.key < $1.key }.map { ($0.key, $0.value.ttlSeconds) }
    }
}

extension KVStore {
    /// Every lease id with its TTL, in no particular order (the leader's timers walk them).
    public var leaseTTLs: some Sequence<(id: Int64, ttlSeconds: Int64)> {
        leases.lazy.map { (id: $0.key, ttlSeconds: $0.value.ttlSeconds) }
    }
}

extension KVStore {
    /// `quotaByteCount` after `operation` were applied now, whatever its condition: its change
    /// to the keys (`byteCount(afterApplying:)`) and the history event it adds.
    public func quotaByteCount(afterApplying operation: KVOperation) -> Int {
        var eventCost = operation.key.count + KVHistory.eventOverheadBytes
        if case .put(_, let value, _) = operation { eventCost += value.count }
        return byteCount(afterApplying: operation) + history.byteCount + eventCost
    }
}
