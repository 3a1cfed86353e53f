import RaftCore
import WRaftSupport

/// The faults injected into this node with `/op/...`, and the decisions they imply for each
/// raft message. A value owned by the runtime actor.
///
/// Invariant: `dropRate` is in 0...1; `delayMs` and `delayJitterMs` are >= 0.
struct FaultState: Sendable {
    /// Which peers' traffic is cut.
    enum Isolation: Sendable, Equatable {
        case none
        case all
        case peers(Set<NodeID>)
    }

    /// The largest delay or jitter accepted (a minute): beyond it a node is simply paused.
    static let delayMsMax = 60_000

    private(set) var isPaused = false
    /// The Raft clock stands still (`/op/freeze`); traffic flows.
    private(set) var isFrozen = false
    private(set) var isolation = Isolation.none
    private(set) var delayMs = 0
    private(set) var delayJitterMs = 0
    private(set) var dropRate = 0.0
    private var generator: SplitMix64

    init(seed: UInt64) {
        self.generator = SplitMix64(seed: seed)
    }

    var isEmpty: Bool { !isPaused && !isFrozen && isolation == .none && delayMs == 0 && delayJitterMs == 0 && dropRate == 0 }

    mutating func pause() { isPaused = true }
    mutating func resume() { isPaused = false }
    mutating func freeze() { isFrozen = true }
    mutating func release() { isFrozen = false }

    /// Cuts traffic with `peers` (nil: with everyone). Isolating more peers adds to the set.
    mutating func isolate(_ peers: [NodeID]?) {
        guard let peers else {
            isolation = .all
            return
        }
        switch isolation {
        case .all: break
        case .none: isolation = .peers(Set(peers))
        case .peers(let current): isolation = .peers(current.union(peers))
        }
    }

    mutating func delay(ms: Int, jitterMs: Int) {
        precondition(ms >= 0 && jitterMs >= 0, "FaultState: delays are validated as non-negative")
        delayMs = min(ms, Self.delayMsMax)
        delayJitterMs = min(jitterMs, Self.delayMsMax)
    }

    mutating func drop(rate: Double) {
        precondition((0...1).contains(rate), "FaultState: the drop rate is validated to 0...1")
        dropRate = rate
    }

    /// Clears every fault (but not the generator: a replay stays one sequence).
    mutating func heal() {
        isPaused = false
        isFrozen = false
        isolation = .none
        delayMs = 0
        delayJitterMs = 0
        dropRate = 0
    }

    func isIsolated(from peer: NodeID) -> Bool {
        switch isolation {
        case .none: return false
        case .all: return true
        case .peers(let peers): return peers.contains(peer)
        }
    }

    /// Whether a message arriving from `peer` is dropped.
    func dropsIncoming(from peer: NodeID) -> Bool {
        isPaused || isIsolated(from: peer)
    }

    /// Whether a message to `peer` is dropped (draws from the generator when a drop rate is set).
    mutating func dropsOutgoing(to peer: NodeID) -> Bool {
        if isPaused || isIsolated(from: peer) { return true }
        guard dropRate > 0 else { return false }
        return Double.random(in: 0..<1, using: &generator) < dropRate
    }

    /// How long to hold the next outgoing batch (0: send at once).
    mutating func outgoingDelayMs() -> Int {
        guard delayMs > 0 || delayJitterMs > 0 else { return 0 }
        guard delayJitterMs > 0 else { return delayMs }
        return max(0, delayMs + Int.random(in: -delayJitterMs...delayJitterMs, using: &generator))
    }

    /// The active faults as `/state.faults` shows them.
    var descriptions: [String] {
        var result: [String] = []
        if isPaused { result.append("paused") }
        if isFrozen { result.append("frozen") }
        switch isolation {
        case .none: break
        case .all: result.append("isolated:all")
        case .peers(let peers): result.append("isolated:" + peers.sorted().map(\.description).joined(separator: ","))
        }
        if delayMs > 0 || delayJitterMs > 0 { result.append("delay:\(delayMs)±\(delayJitterMs)ms") }
        if dropRate > 0 { result.append("drop:\(dropRate)") }
        return result
    }
}
