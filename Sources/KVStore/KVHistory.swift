import RaftCore

/// One retained change: the key after it (for a delete, an empty value at the delete's
/// revision) and before it.
struct HistoryEvent: Sendable, Equatable {
    var kind: KVEvent.Kind
    var revision: UInt64
    var key: [UInt8]
    var stored: StoredValue
    var previous: StoredValue?

    /// What the event costs in `KVHistory.byteCount`: its key and new value, and
    /// `KVHistory.eventOverheadBytes` (the previous value shares the bytes of an earlier one).
    var cost: Int { key.count + stored.value.count + KVHistory.eventOverheadBytes }
}

/// The changes of every revision above the compaction revision, oldest first.
///
/// Invariant: revisions ascend (not strictly: one revision can hold several changes);
/// `byteCount` is the sum of the retained events' costs.
struct KVHistory: Sendable, Equatable {
    private(set) var events: [HistoryEvent] = []
    /// Events before this position are dropped (kept in the array until it pays to shift).
    private var start = 0
    private(set) var byteCount = 0

    /// What each event costs besides its key and value bytes.
    static let eventOverheadBytes = 64

    static func == (lhs: KVHistory, rhs: KVHistory) -> Bool {
        lhs.byteCount == rhs.byteCount && lhs.retained.elementsEqual(rhs.retained)
    }

    /// The retained events, oldest first.
    var retained: ArraySlice<HistoryEvent> { events[start...] }

    var isEmpty: Bool { start == events.count }

    var oldestRevision: UInt64? { isEmpty ? nil : events[start].revision }

    mutating func append(_ event: HistoryEvent) {
        precondition(
            events.last.map { $0.revision <= event.revision } ?? true,
            "KVHistory: revisions ascend")
        events.append(event)
        byteCount += event.cost
    }

    /// Drops every event with a revision at or below `revision`.
    mutating func drop(through revision: UInt64) {
        while start < events.count, events[start].revision <= revision {
            byteCount -= events[start].cost
            start += 1
        }
        if start == events.count {
            events.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 1024 && start * 2 >= events.count {
            events.removeFirst(start)
            start = 0
        }
    }

    /// The position of the first retained event with a revision at or above `revision`.
    func firstPosition(atOrAbove revision: UInt64) -> Int {
        var low = start
        var high = events.count
        while low < high {
            let middle = (low + high) / 2
            if events[middle].revision < revision { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// For every key changed after `revision`, its state at `revision` (nil: absent then).
    func states(after revision: UInt64, within range: KVKeyRange?) -> [StoredKey: StoredValue?] {
        var states: [StoredKey: StoredValue?] = [:]
        var position = events.count
        // Backwards, so the earliest change after `revision` is the one that stays.
        while position > start, events[position - 1].revision > revision {
            position -= 1
            let event = events[position]
            if let range, !range.contains(event.key) { continue }
            states[StoredKey(bytes: event.key)] = .some(event.previous)
        }
        return states
    }
}
