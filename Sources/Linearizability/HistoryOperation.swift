/// One client operation on a register (one key of the store), as a test client observed it:
/// when it was invoked, when (if ever) it completed, and what it returned.
///
/// Register semantics: a key starts absent (`nil`); `write` sets it (a `nil` value deletes);
/// `read` returns it; `cas` sets `value` if the current value equals `expected` (`nil`: absent).
public struct HistoryOperation: Sendable, Codable, Equatable, Hashable {
    public enum Kind: String, Sendable, Codable {
        case read
        case write
        case cas
    }

    /// What the client learned about the operation.
    public enum Outcome: String, Sendable, Codable {
        /// It took effect between invocation and completion (a read returned `readValue`; a CAS
        /// found `expected` and wrote `value`).
        case ok
        /// It definitely did not take effect (refused before being sent, for example).
        case failed
        /// A CAS that took effect as a comparison only: the value differed from `expected`, so
        /// nothing was written. Checked as a read that saw anything but `expected`.
        case compareFailed = "compare_failed"
        /// The client cannot tell (timeout, connection lost, 504): the operation may take effect
        /// at any time after its invocation, or never.
        case unknown
    }

    /// Unique within a history.
    public var id: Int
    /// The client that issued it; a client runs one operation at a time.
    public var process: Int
    public var key: String
    public var kind: Kind
    /// `write`: the value written (`nil` deletes). `cas`: the value written on success.
    public var value: String?
    /// `cas`: the value the key must hold (`nil`: the key must be absent).
    public var expected: String?
    /// Monotonic time of the invocation, in nanoseconds.
    public var invokeNs: UInt64
    /// Monotonic time of the completion, in nanoseconds; nil when the outcome is unknown.
    public var completeNs: UInt64?
    public var outcome: Outcome
    /// `read` with outcome `ok`: the value returned (`nil`: the key was absent).
    public var readValue: String?

    public init(
        id: Int, process: Int, key: String, kind: Kind, value: String? = nil, expected: String? = nil,
        invokeNs: UInt64, completeNs: UInt64?, outcome: Outcome, readValue: String? = nil
    ) {
        self.id = id
        self.process = process
        self.key = key
        self.kind = kind
        self.value = value
        self.expected = expected
        self.invokeNs = invokeNs
        self.completeNs = completeNs
        self.outcome = outcome
        self.readValue = readValue
    }

    /// A read that returned `readValue`.
    public static func read(
        id: Int, process: Int, key: String, invokeNs: UInt64, completeNs: UInt64?, outcome: Outcome = .ok,
        readValue: String?
    ) -> HistoryOperation {
        HistoryOperation(
            id: id, process: process, key: key, kind: .read, invokeNs: invokeNs, completeNs: completeNs,
            outcome: outcome, readValue: readValue)
    }

    /// A write of `value`.
    public static func write(
        id: Int, process: Int, key: String, value: String?, invokeNs: UInt64, completeNs: UInt64?,
        outcome: Outcome = .ok
    ) -> HistoryOperation {
        HistoryOperation(
            id: id, process: process, key: key, kind: .write, value: value, invokeNs: invokeNs,
            completeNs: completeNs, outcome: outcome)
    }

    /// A compare-and-set from `expected` to `value`.
    public static func cas(
        id: Int, process: Int, key: String, expected: String?, value: String?, invokeNs: UInt64,
        completeNs: UInt64?, outcome: Outcome = .ok
    ) -> HistoryOperation {
        HistoryOperation(
            id: id, process: process, key: key, kind: .cas, value: value, expected: expected, invokeNs: invokeNs,
            completeNs: completeNs, outcome: outcome)
    }

    /// Why the operation cannot be checked, or nil when it is well formed.
    public var malformation: String? {
        if outcome == .ok || outcome == .compareFailed {
            guard let completeNs else { return "op \(id): outcome \(outcome.rawValue) without a completion time" }
            guard completeNs >= invokeNs else { return "op \(id): completes before it is invoked" }
        }
        if outcome == .compareFailed && kind != .cas { return "op \(id): compare_failed on a \(kind.rawValue)" }
        return nil
    }

    /// A one-line description for reports: `[p3 #17] cas(k1, "a" -> "b") = ok  @1.204000-1.210000 s`.
    public var summary: String {
        func show(_ value: String?) -> String { value.map { "\"\($0)\"" } ?? "absent" }
        let call: String
        switch kind {
        case .read: call = "read(\(key))" + (outcome == .ok ? " -> \(show(readValue))" : "")
        case .write: call = "write(\(key), \(show(value)))"
        case .cas: call = "cas(\(key), \(show(expected)) -> \(show(value)))"
        }
        let end = completeNs.map(Self.seconds) ?? "?"
        return "[p\(process) #\(id)] \(call) = \(outcome.rawValue)  @\(Self.seconds(invokeNs))-\(end) s"
    }

    private static func seconds(_ nanoseconds: UInt64) -> String {
        let micros = nanoseconds / 1_000
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }
}
