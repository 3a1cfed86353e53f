import KVStore

/// What a watch names (issue 12): a key, a range or a prefix, where it starts, and what it
/// leaves out. Checked by whoever builds it from outside (`GET /watch`, later etcd's Watch).
public struct WatchRequest: Sendable, Equatable {
    /// The keys watched: `.key(k)`, `.prefix(p)` or `[start, end)`.
    public var range: KVKeyRange
    /// The first revision delivered; 0: the next one (now + 1). At or below the current
    /// revision the history is replayed first.
    public var fromRevision: UInt64
    /// Deliver each event's previous key (etcd's `prev_kv`).
    public var includesPrevious: Bool
    /// Leave puts out (etcd's `NOPUT` filter).
    public var excludesPuts: Bool
    /// Leave deletes out (etcd's `NODELETE` filter).
    public var excludesDeletes: Bool

    public init(
        range: KVKeyRange, fromRevision: UInt64 = 0, includesPrevious: Bool = false, excludesPuts: Bool = false,
        excludesDeletes: Bool = false
    ) {
        self.range = range
        self.fromRevision = fromRevision
        self.includesPrevious = includesPrevious
        self.excludesPuts = excludesPuts
        self.excludesDeletes = excludesDeletes
    }

    /// The part that decides which events match (watchers with equal selectors share one match).
    var selector: WatchSelector {
        WatchSelector(start: range.start, end: range.end, excludesPuts: excludesPuts, excludesDeletes: excludesDeletes)
    }
}

/// Which events a watcher receives: its range and filters. Hashable, so the hub matches an
/// event once per distinct selector, not once per watcher.
struct WatchSelector: Hashable, Sendable {
    var start: [UInt8]
    var end: [UInt8]?
    var excludesPuts: Bool
    var excludesDeletes: Bool

    var range: KVKeyRange { KVKeyRange(start: start, end: end) }

    func matches(_ event: KVEvent) -> Bool {
        switch event.kind {
        case .put: if excludesPuts { return false }
        case .delete: if excludesDeletes { return false }
        }
        return range.contains(event.entry.key)
    }
}

/// Why a watch ended, told to its reader as its last delivery.
public enum WatchEnd: Sendable, Equatable {
    /// The history the watch needs is gone (a compaction, the history's byte bound, or a
    /// snapshot installed past the watcher's position): etcd's `ErrCompacted`. The watcher may
    /// start again above `compactRevision`, after reading the keys as they are.
    case compacted(compactRevision: UInt64)
    /// The reader fell behind the writes by more than its queue holds (`WatchLimits`); it
    /// should reconnect from the revision after the last one it received.
    case tooSlow(queuedEventsMax: Int, queuedBytesMax: Int)
    /// The node is stopping.
    case closed
}

/// What a watch stream hands its reader, in order.
public enum WatchDelivery: Sendable, Equatable {
    /// Events in ascending revision order; a revision's events never span two deliveries.
    case events([KVEvent])
    /// Nothing matched since the last delivery, and everything through `revision` has been seen.
    case progress(revision: UInt64)
    /// The watch is over; nothing follows.
    case ended(WatchEnd)
}

/// Where a watch's reader stands (`WatchStream.standing`).
public enum WatchStanding: Sendable, Equatable {
    /// The reader waits for more, and was handed every matching event through `through`.
    case idle(through: UInt64)
    /// The reader has events to take or is handling some.
    case busy
    /// The watch is over.
    case gone
}

/// Why a watch could not be opened.
public enum WatchOpenError: Error, Sendable, Equatable {
    /// `fromRevision` is at or below the compaction revision.
    case compacted(compactRevision: UInt64)
    /// The node serves `watchersMax` watches already.
    case tooManyWatchers(watchersMax: Int)
    /// The node is not a running member (or serves no watches).
    case notServing(message: String)
}

/// The bounds of the watch hub, one place; validated when built.
public struct WatchLimits: Sendable, Equatable {
    /// Watches open at once on one node; one more gets `503 too_many_watchers`.
    public var watchersMax: Int
    /// Events queued for one watcher; past it the watcher is ended `tooSlow`.
    public var queuedEventsMax: Int
    /// Key and value bytes queued for one watcher (one event is always taken into an empty queue).
    public var queuedBytesMax: Int
    /// Events read from the history per catch-up step (a revision is never split).
    public var historyPageEventsMax: Int
    /// Events published by the apply loop and not yet fanned out; past it (the hub fell behind
    /// the writes) every live watcher is ended `tooSlow` rather than let memory grow.
    public var inboxEventsMax: Int

    public static let watchersMaxDefault = 4_096
    public static let watchersMaxRange = 1...100_000
    public static let queuedEventsMaxDefault = 10_000
    public static let queuedBytesMaxDefault = 4 << 20
    public static let historyPageEventsMaxDefault = 1_000
    public static let inboxEventsMaxDefault = 1_000_000

    public init(
        watchersMax: Int = Self.watchersMaxDefault, queuedEventsMax: Int = Self.queuedEventsMaxDefault,
        queuedBytesMax: Int = Self.queuedBytesMaxDefault, historyPageEventsMax: Int = Self.historyPageEventsMaxDefault,
        inboxEventsMax: Int = Self.inboxEventsMaxDefault
    ) {
        precondition(Self.watchersMaxRange.contains(watchersMax), "WatchLimits: watchersMax within its range")
        precondition(queuedEventsMax >= 1 && queuedBytesMax >= 1, "WatchLimits: a watcher's queue holds at least one event")
        precondition(historyPageEventsMax >= 1 && inboxEventsMax >= 1, "WatchLimits: pages and the inbox hold at least one event")
        self.watchersMax = watchersMax
        self.queuedEventsMax = queuedEventsMax
        self.queuedBytesMax = queuedBytesMax
        self.historyPageEventsMax = historyPageEventsMax
        self.inboxEventsMax = inboxEventsMax
    }
}

extension KVEvent {
    /// What a queued event counts against `WatchLimits.queuedBytesMax`.
    var queuedBytes: Int { entry.key.count + entry.value.count + (previous?.value.count ?? 0) + 64 }
}
