#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftCore
import Synchronization

/// One event of a node's stream (`GET /events`): a sequence number, the node's wall-clock time
/// and what happened.
struct NodeEvent: Sendable {
    /// Increases by one per event recorded, from 1.
    var sequence: UInt64
    /// Milliseconds since the Unix epoch, by this node's clock.
    var timeMs: Int64
    var kind: NodeEventKind
}

/// What happened: the core's own events, and what only the runtime sees.
enum NodeEventKind: Sendable {
    case raft(RaftEvent)
    /// A raft message sent to or received from `peer`.
    case message(MessageEvent)
    /// A write of the Ready pipeline became durable: entries up to `lastIndex` (`entryCount` new).
    case persisted(lastIndex: LogIndex, entryCount: Int)
    /// The state machine applied up to `index`.
    case applied(index: LogIndex)
    /// A snapshot was saved here (`isReceived == false`) or received from the leader and installed.
    case snapshot(index: LogIndex, term: Term, isReceived: Bool)
    /// A membership entry was appended to the log (it is in force from then, dissertation 4.1).
    case membership(index: LogIndex, voters: [NodeID], learners: [NodeID])
    /// A fault was injected or cleared; `active` is every fault in force afterwards.
    case fault(name: String, active: [String])
    /// The sampler let these many frequent events through without detail in the last window.
    case summary(messages: Int, others: Int)
    /// Tells a new stream the node's timing, so a page can animate in this node's time.
    case timing(tickMs: Int, heartbeatMs: Int, electionTimeoutMs: Int)
}

/// A raft message as the stream shows it (no payload bytes: type, numbers, counts).
struct MessageEvent: Sendable {
    var isSent: Bool
    var peer: NodeID
    var term: Term
    var type: String
    /// The append's previous index, the response's index, the vote request's last log index.
    var index: LogIndex
    var entryCount: Int
    var isRejected: Bool
    /// A rejection's hint (fast backtracking), or a vote's grant.
    var hintIndex: LogIndex
    var isGranted: Bool

    init(_ message: Message, isSent: Bool) {
        self.isSent = isSent
        peer = isSent ? message.to : message.from
        term = message.term
        index = .zero
        entryCount = 0
        isRejected = false
        hintIndex = .zero
        isGranted = false
        switch message.payload {
        case .voteRequest(let request):
            type = request.isPreVote ? "pre-vote" : "vote"
            index = request.lastLogIndex
        case .voteResponse(let response):
            type = response.isPreVote ? "pre-vote-response" : "vote-response"
            isGranted = response.isGranted
        case .append(let request):
            type = "append"
            index = request.previousIndex
            entryCount = request.entries.count
        case .appendResponse(let response):
            type = "append-response"
            index = response.index
            isRejected = response.isRejected
            hintIndex = response.hintIndex
        case .heartbeat: type = "heartbeat"
        case .heartbeatResponse: type = "heartbeat-response"
        case .installSnapshot(let metadata):
            type = "snapshot"
            index = metadata.index
        case .timeoutNow: type = "timeout-now"
        case .propose(let entries):
            type = "propose"
            entryCount = entries.count
        case .readIndexRequest: type = "read-index"
        case .readIndexResponse: type = "read-index-response"
        }
    }
}

/// The node's recent events, for `GET /events`: a bounded ring that streams read from (a stream
/// never holds events of its own, so a slow reader grows nothing: once the ring has overwritten
/// what it had not read, it is cut off with a final `lagged` event).
///
/// Cheap when nobody listens: messages are recorded only while a stream is open (one atomic
/// load per message otherwise), and the frequent kinds (messages, persists, applies, commits)
/// pass a sampler of at most `frequentEventsPerWindowMax` per `samplingWindowMs`; the rest are
/// counted into one `summary` event. Elections, votes, roles, terms, snapshots, membership and
/// faults are always recorded.
public final class NodeEventLog: Sendable {
    /// Events kept for `?since=` (the ring's size).
    static let ringCapacity = 4_096
    /// Streams open at once on one node; more are refused with `503`.
    static let streamsMax = 8
    static let samplingWindowMs: Int64 = 100
    static let frequentEventsPerWindowMax = 60

    private struct State {
        var ring: [NodeEvent] = []
        /// The ring slot the next event goes to (once the ring is full).
        var nextSlot = 0
        var nextSequence: UInt64 = 1
        var windowStartMs: Int64 = 0
        var frequentInWindow = 0
        var suppressedMessages = 0
        var suppressedOthers = 0
    }

    private let state = Mutex(State())
    private let openStreams = Atomic<Int>(0)
    /// The node's timing, told to every new stream first (`timing` event).
    let timing: NodeEventKind

    init(tickMs: Int, heartbeatMs: Int, electionTimeoutMs: Int) {
        timing = .timing(tickMs: tickMs, heartbeatMs: heartbeatMs, electionTimeoutMs: electionTimeoutMs)
    }

    /// Whether a stream is open (messages are recorded only then).
    var isWatched: Bool { openStreams.load(ordering: .relaxed) > 0 }

    /// Takes one of the `streamsMax` stream slots; false when all are taken.
    func openStream() -> Bool {
        while true {
            let current = openStreams.load(ordering: .relaxed)
            guard current < Self.streamsMax else { return false }
            if openStreams.compareExchange(expected: current, desired: current + 1, ordering: .relaxed).exchanged {
                return true
            }
        }
    }

    func closeStream() {
        openStreams.subtract(1, ordering: .relaxed)
    }

    /// Records an event that is always kept (elections, votes, roles, faults, ...).
    func record(_ kind: NodeEventKind) {
        let now = Self.wallClockMs()
        state.withLock { state in Self.append(kind, at: now, to: &state) }
    }

    /// Records a frequent event through the sampler.
    func recordFrequent(_ kind: NodeEventKind) {
        let now = Self.wallClockMs()
        state.withLock { state in
            if now - state.windowStartMs >= Self.samplingWindowMs {
                state.windowStartMs = now
                state.frequentInWindow = 0
                if state.suppressedMessages > 0 || state.suppressedOthers > 0 {
                    Self.append(.summary(messages: state.suppressedMessages, others: state.suppressedOthers), at: now, to: &state)
                    state.suppressedMessages = 0
                    state.suppressedOthers = 0
                }
            }
            guard state.frequentInWindow < Self.frequentEventsPerWindowMax else {
                if case .message = kind { state.suppressedMessages += 1 } else { state.suppressedOthers += 1 }
                return
            }
            state.frequentInWindow += 1
            Self.append(kind, at: now, to: &state)
        }
    }

    /// A message sent or received; nothing at all unless a stream is open.
    func recordMessage(_ message: Message, isSent: Bool) {
        guard isWatched else { return }
        recordFrequent(.message(MessageEvent(message, isSent: isSent)))
    }

    /// What a reader after `sequence` gets next: up to `limit` events in order, or `isLapped`
    /// when the ring has already overwritten some of the events it has not read.
    func events(after sequence: UInt64, limit: Int) -> (events: [NodeEvent], isLapped: Bool, lastSequence: UInt64) {
        state.withLock { state in
            let last = state.nextSequence - 1
            guard sequence < last, !state.ring.isEmpty else { return ([], false, last) }
            let oldest = state.nextSequence - UInt64(state.ring.count)
            // The reader wants sequence+1; it is gone when older than the oldest kept.
            guard sequence + 1 >= oldest else { return ([], true, last) }
            let count = min(Int(last - sequence), limit)
            var result: [NodeEvent] = []
            result.reserveCapacity(count)
            let oldestSlot = state.ring.count < Self.ringCapacity ? 0 : state.nextSlot
            let startOffset = Int(sequence + 1 - oldest)
            for offset in startOffset..<(startOffset + count) {
                result.append(state.ring[(oldestSlot + offset) % state.ring.count])
            }
            return (result, false, last)
        }
    }

    /// The sequence of the newest event (0 before any).
    var lastSequence: UInt64 { state.withLock { $0.nextSequence - 1 } }

    /// The sequences the ring holds now: (oldest, newest); (1, 0) before any event.
    var heldSequences: (oldest: UInt64, newest: UInt64) {
        state.withLock { ($0.nextSequence - UInt64($0.ring.count), $0.nextSequence - 1) }
    }

    private static func append(_ kind: NodeEventKind, at timeMs: Int64, to state: inout State) {
        let event = NodeEvent(sequence: state.nextSequence, timeMs: timeMs, kind: kind)
        state.nextSequence += 1
        if state.ring.count < ringCapacity {
            if state.ring.isEmpty { state.ring.reserveCapacity(ringCapacity) }
            state.ring.append(event)
        } else {
            state.ring[state.nextSlot] = event
            state.nextSlot = (state.nextSlot + 1) % ringCapacity
        }
    }

    static func wallClockMs() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
    }
}
