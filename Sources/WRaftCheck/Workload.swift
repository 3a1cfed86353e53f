import Linearizability
import WRaftClient
import WRaftSupport

/// One operation a client is about to run.
public struct PlannedOperation: Sendable, Equatable {
    public var key: String
    public var kind: HistoryOperation.Kind
    /// write, cas: the value to write (unique in the run).
    public var value: String?
    /// cas: the value the key must hold; nil: the key must be absent.
    public var expected: String?
    /// The node (index) to send it to.
    public var node: Int
}

/// The operations of one client, drawn from a seed: reads, writes of unique values and
/// compare-and-sets from the value the client last saw, over a few keys, through random nodes.
public struct Workload: Sendable {
    public let process: Int
    private let keys: [String]
    private let nodeCount: Int
    private var generator: SplitMix64
    private var written = 0
    /// The last value this client saw or wrote per key (nil: absent or never seen).
    private var lastSeen: [String: String?] = [:]

    public init(process: Int, keys: [String], nodeCount: Int, seed: UInt64) {
        precondition(!keys.isEmpty && nodeCount > 0, "Workload: there are keys and nodes to use")
        self.process = process
        self.keys = keys
        self.nodeCount = nodeCount
        self.generator = SplitMix64(seed: seed &+ UInt64(process) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// The next operation: 40% reads, 35% writes, 25% compare-and-sets.
    public mutating func next() -> PlannedOperation {
        let key = keys[Int.random(in: 0..<keys.count, using: &generator)]
        let node = Int.random(in: 0..<nodeCount, using: &generator)
        let roll = Int.random(in: 0..<100, using: &generator)
        if roll < 40 { return PlannedOperation(key: key, kind: .read, node: node) }
        written += 1
        let value = "p\(process)-\(written)"
        if roll < 75 { return PlannedOperation(key: key, kind: .write, value: value, node: node) }
        let expected = lastSeen[key] ?? nil
        return PlannedOperation(key: key, kind: .cas, value: value, expected: expected, node: node)
    }

    /// Remembers what an operation showed about its key, for later compare-and-sets.
    public mutating func observe(_ operation: PlannedOperation, outcome: HistoryOperation.Outcome, readValue: String?) {
        guard outcome == .ok else { return }
        switch operation.kind {
        case .read: lastSeen[operation.key] = .some(readValue)
        case .write, .cas: lastSeen[operation.key] = .some(operation.value)
        }
    }

    /// A think time in milliseconds, at most `maxMs`.
    public mutating func thinkTimeMs(maxMs: Int) -> Int {
        maxMs > 0 ? Int.random(in: 0...maxMs, using: &generator) : 0
    }

    /// What an error means for the operation's outcome: a CAS answered 412 found another value;
    /// an error after which the request may have been applied (timeout, connection lost, 504)
    /// is unknown; anything else (503 no_leader, refused connections, 4xx) did not apply.
    public static func outcome(of error: WRaftClientError, kind: HistoryOperation.Kind) -> HistoryOperation.Outcome {
        if kind == .cas, error.httpStatus == 412 { return .compareFailed }
        return error.mayHaveTakenEffect ? .unknown : .failed
    }
}
