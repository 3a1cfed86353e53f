import Linearizability
import WRaftSupport

/// Writes histories by hand: times are in milliseconds, ids are assigned in order.
struct HistoryBuilder {
    var operations: [HistoryOperation] = []
    var key = "k"

    private var nextID: Int { operations.count + 1 }
    private static func ns(_ ms: UInt64) -> UInt64 { ms * 1_000_000 }
    private static func ns(_ ms: UInt64?) -> UInt64? { ms.map { $0 * 1_000_000 } }

    mutating func write(_ value: String?, _ invokeMs: UInt64, _ completeMs: UInt64?, p: Int = 0, _ outcome: HistoryOperation.Outcome = .ok) {
        operations.append(
            .write(id: nextID, process: p, key: key, value: value, invokeNs: Self.ns(invokeMs), completeNs: Self.ns(completeMs), outcome: outcome))
    }

    mutating func read(_ value: String?, _ invokeMs: UInt64, _ completeMs: UInt64?, p: Int = 0, _ outcome: HistoryOperation.Outcome = .ok) {
        operations.append(
            .read(id: nextID, process: p, key: key, invokeNs: Self.ns(invokeMs), completeNs: Self.ns(completeMs), outcome: outcome, readValue: value))
    }

    mutating func cas(
        _ expected: String?, _ value: String?, _ invokeMs: UInt64, _ completeMs: UInt64?, p: Int = 0,
        _ outcome: HistoryOperation.Outcome = .ok
    ) {
        operations.append(
            .cas(
                id: nextID, process: p, key: key, expected: expected, value: value, invokeNs: Self.ns(invokeMs),
                completeNs: Self.ns(completeMs), outcome: outcome))
    }
}

