import KVStore

/// One watcher's position and queue, as a pure state machine: the hub feeds it what the apply
/// loop published, the runtime feeds it pages of history, the reader takes from it. It decides
/// what is delivered and when the watcher ends; the hub only carries out its answers.
///
/// The seam between history and live events: while `catchingUp`, published events are ignored
/// (the history holds them and the next page reads them). The runtime reads the last page and
/// switches the watcher to `live` in one turn of its actor, with `through` the store's revision
/// then; every publication up to that revision was made before (the runtime publishes in the
/// same turn as it applies), and `offer` drops events below `next`, so a publication still on
/// its way through the hub repeats nothing, and every later one is delivered: no gap.
///
/// Invariant: revisions in `queue` ascend, and all are below `next` while live or catching up.
struct WatcherStateMachine {
    enum Phase: Equatable {
        /// Reading the history; `next` is the first revision not yet read.
        case catchingUp(next: UInt64)
        /// Taking published events at or above `next`; every matching event below it is queued
        /// or delivered.
        case live(next: UInt64)
        /// Over; the end is delivered once the queue is empty (at once for `tooSlow`).
        case ended(WatchEnd)
        /// The end was delivered.
        case finished
    }

    /// What the reader gets from `take`.
    enum Take: Equatable {
        case deliver([KVEvent])
        case end(WatchEnd)
        /// Nothing more: the end was delivered.
        case finished
        /// The queue is empty and history from `from` must be read first.
        case readHistory(from: UInt64)
        /// Nothing to deliver: wait for the hub. Everything matching through `seenThrough` was delivered.
        case wait(seenThrough: UInt64)
    }

    private(set) var phase: Phase
    private var queue: [KVEvent] = []
    private var head = 0
    private(set) var queuedBytes = 0
    /// Every matching event through this revision is queued or delivered (the progress a live
    /// watcher reports, with the hub's own fan-out position).
    private(set) var knownThrough: UInt64
    let queuedEventsMax: Int
    let queuedBytesMax: Int

    /// `knownThrough`: the store's revision when the watcher was opened (nothing before it is
    /// owed to a live watcher).
    init(phase: Phase, knownThrough: UInt64, queuedEventsMax: Int, queuedBytesMax: Int) {
        precondition(queuedEventsMax >= 1 && queuedBytesMax >= 1, "WatcherStateMachine: a queue holds one event")
        self.phase = phase
        self.knownThrough = knownThrough
        self.queuedEventsMax = queuedEventsMax
        self.queuedBytesMax = queuedBytesMax
    }

    var queuedCount: Int { queue.count - head }

    /// Whether `take` has something other than `wait` for the reader.
    var hasWork: Bool {
        if queuedCount > 0 { return true }
        if case .live = phase { return false }
        return true
    }

    // MARK: Events in

    /// Events the apply loop published, already matched to this watcher's selector (ascending
    /// revisions). True when the reader should be woken.
    mutating func offer(_ events: ArraySlice<KVEvent>) -> Bool {
        guard case .live(let next) = phase, let last = events.last else { return false }
        var fresh = events
        if let first = fresh.first, first.revision < next {
            // The seam: a publication made before this watcher went live (its history page
            // already held these revisions).
            fresh = fresh.drop(while: { $0.revision < next })
        }
        guard !fresh.isEmpty else { return false }
        let bytes = fresh.reduce(0) { $0 + $1.queuedBytes }
        if queuedCount > 0, queuedCount + fresh.count > queuedEventsMax || queuedBytes + bytes > queuedBytesMax {
            endTooSlow()
            return true
        }
        queue.append(contentsOf: fresh)
        queuedBytes += bytes
        phase = .live(next: last.revision + 1)
        knownThrough = max(knownThrough, last.revision)
        return true
    }

    /// A page of history (matched, ascending) read from `next`; `readThrough` is the last
    /// revision the read covered, and `isCurrent` whether that is the store's revision, read in
    /// the same turn as nothing else applied: the watcher goes live above it.
    mutating func caughtUp(_ events: [KVEvent], readThrough: UInt64, isCurrent: Bool) {
        guard case .catchingUp(let next) = phase else { return }
        precondition(events.allSatisfy { $0.revision >= next && $0.revision <= readThrough }, "WatcherStateMachine: a history page lies in [next, readThrough]")
        precondition(readThrough + 1 >= next, "WatcherStateMachine: a history page does not go back")
        queue.append(contentsOf: events)
        queuedBytes += events.reduce(0) { $0 + $1.queuedBytes }
        phase = isCurrent ? .live(next: readThrough + 1) : .catchingUp(next: readThrough + 1)
        if isCurrent { knownThrough = max(knownThrough, readThrough) }
    }

    /// The history from the watcher's position is gone (read from history, or missed by the
    /// hub because a snapshot or the history's bound dropped it): a watcher still needing any
    /// revision at or below `compactRevision` ends. True when the reader should be woken.
    mutating func historyCompacted(through compactRevision: UInt64) -> Bool {
        switch phase {
        case .catchingUp(let next), .live(let next):
            guard next <= compactRevision else { return false }
            discardQueue()
            phase = .ended(.compacted(compactRevision: compactRevision))
            return true
        case .ended, .finished:
            return false
        }
    }

    /// The hub fell behind the writes and dropped publications through `revision`.
    mutating func publicationsDropped(through revision: UInt64) -> Bool {
        guard case .live(let next) = phase, next <= revision else { return false }
        endTooSlow()
        return true
    }

    /// The node is stopping.
    mutating func close() -> Bool {
        switch phase {
        case .catchingUp, .live:
            phase = .ended(.closed)
            return true
        case .ended, .finished:
            return false
        }
    }

    private mutating func endTooSlow() {
        // Never unbounded memory: what was queued goes; the reader resumes from its last revision.
        discardQueue()
        phase = .ended(.tooSlow(queuedEventsMax: queuedEventsMax, queuedBytesMax: queuedBytesMax))
    }

    private mutating func discardQueue() {
        queue = []
        head = 0
        queuedBytes = 0
    }

    // MARK: The reader

    /// The next thing for the reader: queued events (at most about `eventsMax`, never ending
    /// inside a revision), else the end, a history read, or a wait. `fannedOutThrough` is the
    /// last revision the hub fanned out to every live watcher.
    mutating func take(eventsMax: Int, fannedOutThrough: UInt64) -> Take {
        if queuedCount > 0 {
            var end = min(queue.count, head + max(eventsMax, 1))
            // Never split a revision: a resumed reader starts after the last revision it saw.
            while end < queue.count, queue[end].revision == queue[end - 1].revision { end += 1 }
            let batch = Array(queue[head..<end])
            queuedBytes -= batch.reduce(0) { $0 + $1.queuedBytes }
            head = end
            if head == queue.count {
                queue.removeAll(keepingCapacity: queue.count <= 1_024)
                head = 0
            } else if head >= 1_024, head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return .deliver(batch)
        }
        switch phase {
        case .catchingUp(let next): return .readHistory(from: next)
        case .live: return .wait(seenThrough: max(knownThrough, fannedOutThrough))
        case .ended(let end):
            phase = .finished
            return .end(end)
        case .finished: return .finished
        }
    }
}
