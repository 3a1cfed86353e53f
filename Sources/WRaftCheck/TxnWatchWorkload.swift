import Foundation
import Linearizability
import Synchronization
import WRaftAPI
import WRaftClient
import WRaftSupport

/// Records the `txn-watch` workload's transactions as concurrent clients invoke and complete
/// them, on the run's clock. Safe to share between tasks.
public final class CASRecorder: Sendable {
    private let state = Mutex<[CASOperation]>([])
    private let start: ContinuousClock.Instant

    public init(start: ContinuousClock.Instant = .now) {
        self.start = start
    }

    private var nowNs: UInt64 { UInt64(clamping: (ContinuousClock.now - start).inNanoseconds) }

    /// Records the invocation of `planned` now; returns its id for `complete`.
    public func invoke(process: Int, _ planned: TxnWatchWorkload.Planned) -> Int {
        let invokeNs = nowNs
        return state.withLock { operations in
            let id = operations.count + 1
            operations.append(
                CASOperation(
                    id: id, process: process, key: planned.key, kind: planned.kind, value: planned.value,
                    expectedModRevision: planned.expectedModRevision, invokeNs: invokeNs))
            return id
        }
    }

    /// Records the completion of operation `id` now.
    public func complete(_ id: Int, outcome: HistoryOperation.Outcome, revision: UInt64? = nil, observedModRevision: UInt64? = nil) {
        let completeNs = nowNs
        state.withLock { operations in
            let position = id - 1
            precondition(operations.indices.contains(position), "CASRecorder: completes an invoked operation")
            precondition(operations[position].completeNs == nil, "CASRecorder: an operation completes once")
            operations[position].completeNs = completeNs
            operations[position].outcome = outcome
            operations[position].revision = revision
            operations[position].observedModRevision = observedModRevision
        }
    }

    public var operations: [CASOperation] { state.withLock { $0 } }
    public var count: Int { state.withLock { $0.count } }
}

/// The transactions of one `txn-watch` client, drawn from a seed: over a few keys under
/// `prefix`, `if mod_revision(key) == last seen then put a unique value` (9 in 10) or
/// `then delete` (1 in 10), `else range key` (which shows the key's mod revision for the next
/// try), through random nodes.
public struct TxnWatchWorkload: Sendable {
    /// Where the workload's keys live; the watchers follow this prefix.
    public static let prefix = "tw/"

    public struct Planned: Sendable, Equatable {
        public var key: String
        public var kind: CASOperation.Kind
        public var value: String?
        public var expectedModRevision: UInt64
        public var node: Int
    }

    public let process: Int
    private let keys: [String]
    private let nodeCount: Int
    private var generator: SplitMix64
    private var written = 0
    /// The mod revision this client last saw per key (absent: 0).
    private var lastModRevision: [String: UInt64] = [:]

    public init(process: Int, keys: [String], nodeCount: Int, seed: UInt64) {
        precondition(!keys.isEmpty && nodeCount > 0, "TxnWatchWorkload: there are keys and nodes to use")
        self.process = process
        self.keys = keys
        self.nodeCount = nodeCount
        self.generator = SplitMix64(seed: seed &+ 0x7457 &+ UInt64(process) &* 0x9E37_79B9_7F4A_7C15)
    }

    public mutating func next() -> Planned {
        let key = keys[Int.random(in: 0..<keys.count, using: &generator)]
        let node = Int.random(in: 0..<nodeCount, using: &generator)
        let expected = lastModRevision[key] ?? 0
        if expected != 0, Int.random(in: 0..<10, using: &generator) == 0 {
            return Planned(key: key, kind: .delete, value: nil, expectedModRevision: expected, node: node)
        }
        written += 1
        return Planned(key: key, kind: .put, value: "t\(process)-\(written)", expectedModRevision: expected, node: node)
    }

    /// What an answer showed: the key's mod revision now (0: absent).
    public mutating func observe(key: String, modRevision: UInt64) {
        lastModRevision[key] = modRevision
    }

    /// The transaction of `planned`, as `POST /txn` takes it.
    public static func body(for planned: Planned) -> TxnBody {
        let write: TxnBody.Operation =
            planned.kind == .put
            ? TxnBody.Operation(op: "put", key: planned.key, value: planned.value ?? "")
            : TxnBody.Operation(op: "delete", key: planned.key)
        return TxnBody(
            compare: [
                TxnBody.Compare(key: planned.key, target: "modRevision", op: "=", number: Int64(clamping: planned.expectedModRevision))
            ],
            success: [write], failure: [TxnBody.Operation(op: "range", key: planned.key)])
    }

    /// Runs `planned` through `client`, recording it; returns the key's mod revision the answer
    /// showed (nil: it showed none).
    static func perform(
        _ planned: Planned, process: Int, client: NodeClient, recorder: CASRecorder, timeoutMs: Int
    ) async -> UInt64? {
        let id = recorder.invoke(process: process, planned)
        do {
            let view = try await client.txn(body(for: planned), timeoutMs: timeoutMs)
            if view.succeeded {
                recorder.complete(id, outcome: .ok, revision: view.revision)
                return planned.kind == .put ? view.revision : 0
            }
            // The failure branch's range: the key as it is (absent: no items). A retry
            // answered from the node's memory carries no responses.
            let observed = view.responses?.first.map { UInt64($0.items?.first?.modRevision ?? 0) }
            recorder.complete(id, outcome: .compareFailed, revision: view.revision, observedModRevision: observed)
            return observed
        } catch {
            recorder.complete(id, outcome: error.mayHaveTakenEffect ? .unknown : .failed)
            return nil
        }
    }
}

/// One watcher of the `txn-watch` workload: follows `prefix` with `GET /watch` through the
/// faults, moving to the next node when its stream ends, fails, or goes quiet (no event and no
/// progress notification for `stallMs`), and resuming each time from the revision after the
/// last it saw whole. Records everything it receives, unfiltered, for `TxnWatchChecker`.
final class WatchFollower: Sendable {
    private struct State {
        var log: WatcherLog
        var lastMessage = ContinuousClock.now
        var isStopped = false
        /// Answers of `compacted` in a row (a restarted follower's history may start late; another node may still have it).
        var compactedInARow = 0
    }

    private enum End: Sendable {
        case reconnect(String)
        case compacted(UInt64)
        case stopped
    }

    /// Progress notifications this often on an idle stream; a stream quiet for `stallMs` is left.
    static let progressMs = 500
    static let stallMs = 3_000
    static let connectTimeoutMs = 2_000

    let watcher: Int
    private let clients: [NodeClient]
    private let prefix: String
    private let state: Mutex<State>
    /// When set, each event's receipt time is recorded (`WatcherLog.receivedNs`) from here.
    private let clockStart: ContinuousClock.Instant?

    /// `fromRevision`: the first revision it follows (above the cluster's revision before the
    /// load: the revisions of the cluster's formation carry no events and count as compacted).
    init(watcher: Int, nodes: [NodeAddress], prefix: String, fromRevision: UInt64, clockStart: ContinuousClock.Instant? = nil) {
        precondition(fromRevision >= 1, "WatchFollower: revisions start at 1")
        self.watcher = watcher
        self.clockStart = clockStart
        self.prefix = prefix
        // Connections of its own: a stream holds its connection.
        self.clients = nodes.map { NodeClient(address: $0, connectionsMax: 2, requestTimeoutMs: Self.connectTimeoutMs) }
        self.state = Mutex(
            State(log: WatcherLog(watcher: watcher, fromRevision: fromRevision, seenThrough: fromRevision - 1)))
    }

    var log: WatcherLog { state.withLock { $0.log } }
    var seenThrough: UInt64 { state.withLock { $0.log.seenThrough } }

    func stop() { state.withLock { $0.isStopped = true } }

    private var isStopped: Bool { state.withLock { $0.isStopped } }

    /// Follows until `stop`, starting on node `firstNode`.
    func run(firstNode: Int) async {
        var node = firstNode % clients.count
        while !isStopped && !Task.isCancelled {
            let from = state.withLock { state -> UInt64 in
                state.log.connections += 1
                state.lastMessage = .now
                return state.log.seenThrough + 1
            }
            switch await follow(clients[node], from: from) {
            case .stopped:
                break
            case .reconnect:
                state.withLock { $0.compactedInARow = 0 }
            case .compacted(let compactRevision):
                let giveUp = state.withLock { state -> Bool in
                    state.compactedInARow += 1
                    guard state.compactedInARow >= 3 * clients.count else { return false }
                    state.log.failure = "every node answers that revision \(from) is compacted (through \(compactRevision))"
                    return true
                }
                if giveUp { return }
            }
            node = (node + 1) % clients.count
            try? await Task.sleep(for: .milliseconds(100))
        }
        for client in clients { await client.shutDown() }
    }

    /// One connection's stream, until it ends, fails, stalls, or the watcher stops.
    private func follow(_ client: NodeClient, from: UInt64) async -> End {
        let target = NodeClient.target(
            "/watch", query: [("prefix", prefix), ("fromRevision", String(from)), ("progressMs", String(Self.progressMs))])
        return await withTaskGroup(of: End.self) { group in
            group.addTask {
                var end = End.reconnect("the stream ended")
                do throws(WRaftClientError) {
                    try await client.streamEvents(target, timeoutMs: Self.connectTimeoutMs) { message throws(WRaftClientError) in
                        if let ended = self.handle(message) {
                            end = ended
                            return false
                        }
                        return !self.isStopped
                    }
                } catch {
                    if case .http(let status, let code, _, _) = error, status == 410 || code == .compacted {
                        return .compacted(0)
                    }
                    return .reconnect("\(error)")
                }
                return self.isStopped ? .stopped : end
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    let (stopped, quiet) = self.state.withLock { ($0.isStopped, ContinuousClock.now - $0.lastMessage) }
                    if stopped { return .stopped }
                    if quiet > .milliseconds(Self.stallMs) { return .reconnect("no message for \(Self.stallMs) ms") }
                }
                return .stopped
            }
            let first = await group.next() ?? .stopped
            group.cancelAll()
            return first
        }
    }

    /// Records one message; non-nil ends this connection.
    private func handle(_ message: ServerSentEvent) -> End? {
        let data = Data(message.data.utf8)
        switch message.event {
        case "message":
            guard let view = try? JSONDecoder().decode(WatchMessageView.self, from: data) else {
                return .reconnect("an undecodable watch message")
            }
            let events = view.events.map { event in
                WatchedEvent(
                    revision: view.revision, key: event.kv.key, isPut: event.type == WatchEventView.put,
                    value: event.type == WatchEventView.put ? event.kv.value : "")
            }
            let receivedNs = clockStart.map { UInt64(clamping: (ContinuousClock.now - $0).inNanoseconds) }
            state.withLock { state in
                state.lastMessage = .now
                state.log.events += events
                if let receivedNs { state.log.receivedNs += events.map { _ in receivedNs } }
                state.log.seenThrough = max(state.log.seenThrough, view.revision)
            }
        case "progress":
            let view = try? JSONDecoder().decode(WatchRevisionView.self, from: data)
            state.withLock { state in
                state.lastMessage = .now
                if let view { state.log.seenThrough = max(state.log.seenThrough, view.revision) }
            }
        case "error":
            let view = try? JSONDecoder().decode(WatchErrorView.self, from: data)
            if view?.code == .compacted { return .compacted(view?.compactRevision ?? 0) }
            return .reconnect("the node ended the watch: \(view?.message ?? message.data)")
        default:
            state.withLock { $0.lastMessage = .now }
        }
        return nil
    }
}
