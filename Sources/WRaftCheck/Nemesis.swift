import WRaftClient
import WRaftSupport

/// Which nodes a fault hits. The leader is only known when the fault starts.
public enum NemesisTarget: Sendable, Equatable, CustomStringConvertible {
    /// The current leader; `fallback` when no leader is known at that moment.
    case leader(fallback: Int)
    /// These node indexes (a minority).
    case nodes([Int])

    public var description: String {
        switch self {
        case .leader: return "the leader"
        case .nodes(let nodes): return "nodes \(nodes.map(String.init).joined(separator: ","))"
        }
    }
}

/// The shape of a network partition.
public enum PartitionShape: Sendable, Equatable, CustomStringConvertible {
    /// The leader alone on one side, every other node on the other.
    case leaderFromMajority(fallback: Int)
    /// These nodes (a minority) on one side, the rest on the other.
    case minority([Int])
    /// `order[0]` sees everyone; the rest split into two halves that cannot see each other.
    case bridge(order: [Int])

    public var description: String {
        switch self {
        case .leaderFromMajority: return "leader cut from the majority"
        case .minority(let nodes): return "minority \(nodes.map(String.init).joined(separator: ",")) cut off"
        case .bridge(let order): return "bridge through node \(order.first ?? 0)"
        }
    }

    /// For each node, the nodes whose traffic it drops (symmetric), given the current leader.
    public func isolation(nodeCount: Int, leader: Int?) -> [Int: Set<Int>] {
        let all = Set(0..<nodeCount)
        switch self {
        case .leaderFromMajority(let fallback):
            return Self.split(Set([leader ?? fallback]), from: all)
        case .minority(let nodes):
            return Self.split(Set(nodes), from: all)
        case .bridge(let order):
            let rest = Array(order.dropFirst())
            let firstHalf = Set(rest.prefix(rest.count / 2))
            let secondHalf = Set(rest.dropFirst(rest.count / 2))
            var result: [Int: Set<Int>] = [:]
            for node in firstHalf { result[node] = secondHalf }
            for node in secondHalf { result[node] = firstHalf }
            return result
        }
    }

    /// `side` cut from every other node of `all`, both ways.
    private static func split(_ side: Set<Int>, from all: Set<Int>) -> [Int: Set<Int>] {
        let other = all.subtracting(side)
        var result: [Int: Set<Int>] = [:]
        for node in side { result[node] = other }
        for node in other { result[node] = side }
        return result
    }
}

/// One fault of a nemesis schedule.
public enum NemesisFault: Sendable, Equatable, CustomStringConvertible {
    case kill(NemesisTarget)
    case pause(NemesisTarget)
    case partition(PartitionShape)
    case drop(rate: Double, nodes: [Int])
    case delay(ms: Int, jitterMs: Int, nodes: [Int])

    public var kind: NemesisKind {
        switch self {
        case .kill: return .kill
        case .pause: return .pause
        case .partition: return .partition
        case .drop: return .drop
        case .delay: return .delay
        }
    }

    public var description: String {
        switch self {
        case .kill(let target): return "kill -9 \(target)"
        case .pause(let target): return "SIGSTOP \(target)"
        case .partition(let shape): return "partition: \(shape)"
        case .drop(let rate, let nodes):
            return "drop \(Int(rate * 100))% on nodes \(nodes.map(String.init).joined(separator: ","))"
        case .delay(let ms, let jitterMs, let nodes):
            return "delay \(ms)±\(jitterMs) ms on nodes \(nodes.map(String.init).joined(separator: ","))"
        }
    }
}

/// A fault and when it is active, relative to the start of the load.
public struct NemesisStep: Sendable, Equatable {
    public var startMs: Int
    public var durationMs: Int
    public var fault: NemesisFault

    public var endMs: Int { startMs + durationMs }
}

/// Draws a nemesis schedule from a seed: faults cycle through the chosen kinds (each cycle in a
/// shuffled order), each followed by a quiet interval, and every fault ends (is healed) before
/// the load stops.
public struct NemesisPlanner: Sendable {
    public var nemeses: [NemesisKind]
    public var nodeCount: Int
    public var durationMs: Int
    public var intervalMs: Int
    public var faultDurationMs: ClosedRange<Int>

    public init(options: CheckOptions) {
        self.nemeses = options.nemeses
        self.nodeCount = options.nodeCount
        self.durationMs = options.durationMs
        self.intervalMs = options.nemesisIntervalMs
        self.faultDurationMs = options.faultDurationMs
    }

    public init(nemeses: [NemesisKind], nodeCount: Int, durationMs: Int, intervalMs: Int, faultDurationMs: ClosedRange<Int>) {
        self.nemeses = nemeses
        self.nodeCount = nodeCount
        self.durationMs = durationMs
        self.intervalMs = intervalMs
        self.faultDurationMs = faultDurationMs
    }

    /// The schedule for `seed`: the same seed always gives the same schedule.
    public func plan(seed: UInt64) -> [NemesisStep] {
        let kinds = Array(Set(nemeses)).sorted { $0.rawValue < $1.rawValue }
        guard !kinds.isEmpty else { return [] }
        var generator = SplitMix64(seed: seed ^ 0x6E65_6D65_7369_73)
        var steps: [NemesisStep] = []
        var cycle: [NemesisKind] = []
        var startMs = intervalMs
        while true {
            let faultMs = Int.random(in: faultDurationMs, using: &generator)
            guard startMs + faultMs <= durationMs else { break }
            if cycle.isEmpty { cycle = kinds.shuffled(using: &generator) }
            let fault = makeFault(cycle.removeFirst(), using: &generator)
            steps.append(NemesisStep(startMs: startMs, durationMs: faultMs, fault: fault))
            startMs += faultMs + intervalMs
        }
        return steps
    }

    private func makeFault(_ kind: NemesisKind, using generator: inout SplitMix64) -> NemesisFault {
        switch kind {
        case .kill: return .kill(makeTarget(using: &generator))
        case .pause: return .pause(makeTarget(using: &generator))
        case .partition: return .partition(makePartition(using: &generator))
        case .drop:
            return .drop(rate: Double(Int.random(in: 10...50, using: &generator)) / 100, nodes: someNodes(using: &generator))
        case .delay:
            return .delay(
                ms: Int.random(in: 20...150, using: &generator), jitterMs: Int.random(in: 0...50, using: &generator),
                nodes: someNodes(using: &generator))
        }
    }

    /// The leader half the time, otherwise a random minority (never a majority, so a quorum
    /// survives the fault).
    private func makeTarget(using generator: inout SplitMix64) -> NemesisTarget {
        let fallback = Int.random(in: 0..<nodeCount, using: &generator)
        if minoritySizeMax == 0 || Bool.random(using: &generator) { return .leader(fallback: fallback) }
        return .nodes(randomMinority(using: &generator))
    }

    private func makePartition(using generator: inout SplitMix64) -> PartitionShape {
        let fallback = Int.random(in: 0..<nodeCount, using: &generator)
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: return .leaderFromMajority(fallback: fallback)
        case 1: return .minority(randomMinority(using: &generator))
        default: return .bridge(order: Array(0..<nodeCount).shuffled(using: &generator))
        }
    }

    /// The largest minority: a majority of the voters stays.
    private var minoritySizeMax: Int { (nodeCount - 1) / 2 }

    private func randomMinority(using generator: inout SplitMix64) -> [Int] {
        let size = Int.random(in: 1...max(minoritySizeMax, 1), using: &generator)
        return Array(Array(0..<nodeCount).shuffled(using: &generator).prefix(size)).sorted()
    }

    /// A random non-empty set of nodes (drop and delay may hit any number).
    private func someNodes(using generator: inout SplitMix64) -> [Int] {
        let size = Int.random(in: 1...nodeCount, using: &generator)
        return Array(Array(0..<nodeCount).shuffled(using: &generator).prefix(size)).sorted()
    }
}
