import Foundation
import WRaftAPI
import WRaftClient
import WRaftSupport

/// The read or write load of `wraft bench`.
public enum LoadMode: String, CaseIterable, Sendable {
    case write
    case read
}

/// A benchmark load: closed loops of `PUT` or `GET /data/bench-N` against a cluster, each
/// connection drawing its keys from the seed.
public struct LoadWorkload: Sendable {
    public let mode: LoadMode
    public let keyCount: Int
    public let value: [UInt8]
    public let consistency: ReadConsistency
    public let seed: UInt64

    public init(mode: LoadMode, keyCount: Int, value: [UInt8], consistency: ReadConsistency, seed: UInt64) {
        precondition(keyCount >= 1, "LoadWorkload: there is at least one key")
        self.mode = mode
        self.keyCount = keyCount
        self.value = value
        self.consistency = consistency
        self.seed = seed
    }

    /// The name of key `number`.
    public static func key(_ number: Int) -> String { "bench-\(number)" }

    /// Writes every key once so reads find them, on at most `connections` requests at a time.
    /// Throws the first `PreloadError`.
    public func preload(clients: [NodeClient], connections: Int) async throws {
        precondition(!clients.isEmpty, "LoadWorkload: preload has a client")
        let workers = min(connections, keyCount)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                let client = clients[worker % clients.count]
                group.addTask {
                    for number in stride(from: worker, to: keyCount, by: workers) {
                        do throws(WRaftClientError) {
                            try await client.put(Self.key(number), value)
                        } catch {
                            throw PreloadError(key: Self.key(number), error: error)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The request number `sequence` of connection `worker`: a key drawn from the seed.
    public func request(worker: Int, sequence: UInt64) -> HTTPRequest {
        var generator = SplitMix64(seed: seed ^ (UInt64(worker) << 40) ^ sequence)
        let target = "/data/" + Self.key(Int(generator.next() % UInt64(keyCount)))
        switch mode {
        case .write:
            return HTTPRequest(method: "PUT", target: target, body: value)
        case .read:
            return HTTPRequest(method: "GET", target: consistency == .local ? target + "?consistency=local" : target)
        }
    }

    /// Runs `connections` closed loops (connection i on `clients[i % count]`) until `end`,
    /// counting the answers after `measureFrom` (`measuredMs` apart from `end`).
    public func run(
        clients: [NodeClient], connections: Int, measureFrom: ContinuousClock.Instant, end: ContinuousClock.Instant,
        measuredMs: Int, samplesPerConnectionMax: Int
    ) async -> LoadReport {
        precondition(!clients.isEmpty && connections >= 1, "LoadWorkload: a run has clients and connections")
        let results = await withTaskGroup(of: ClosedLoopResult.self) { group in
            for worker in 0..<connections {
                let client = clients[worker % clients.count]
                group.addTask {
                    await client.runClosedLoop(
                        measureFrom: measureFrom, end: end, timeoutMs: 10_000, samplesMax: samplesPerConnectionMax
                    ) { sequence in
                        request(worker: worker, sequence: sequence)
                    }
                }
            }
            var results: [ClosedLoopResult] = []
            for await result in group { results.append(result) }
            return results
        }
        return LoadReport(results: results, measuredMs: measuredMs)
    }
}

/// A key could not be written before a read load.
public struct PreloadError: Error, CustomStringConvertible {
    public let key: String
    public let error: WRaftClientError

    public var description: String { "preloading \(key): \(error)" }
}

/// The merged results of a load run, as printed.
public struct LoadReport: Sendable {
    public let completed: Int
    public let errors: Int
    public let firstError: String?
    public let measuredMs: Int
    /// Sorted ascending.
    public let latenciesMicroseconds: [UInt32]
    /// The members' costs over the window (`MemberCost.text`), when the caller read them.
    public var memberCosts: String?

    public init(results: [ClosedLoopResult], measuredMs: Int) {
        completed = results.reduce(0) { $0 + $1.completed }
        errors = results.reduce(0) { $0 + $1.failed }
        firstError = results.lazy.compactMap(\.firstError).first.map { "\($0)" }
        self.measuredMs = measuredMs
        latenciesMicroseconds = results.flatMap(\.latenciesMicroseconds).sorted()
    }

    /// The latency below which `fraction` of the samples lie (nearest rank), in milliseconds.
    public func percentileMs(_ fraction: Double) -> Double {
        guard !latenciesMicroseconds.isEmpty else { return 0 }
        let rank = Int((fraction * Double(latenciesMicroseconds.count)).rounded(.up)) - 1
        let index = min(max(rank, 0), latenciesMicroseconds.count - 1)
        return Double(latenciesMicroseconds[index]) / 1_000
    }

    /// Completed requests per second of the measured time.
    public var throughput: Double {
        Double(completed) / (Double(max(1, measuredMs)) / 1_000)
    }

    public var text: String {
        let seconds = Double(measuredMs) / 1_000
        func format(_ value: Double) -> String { String(format: "%.2f", value) }
        var lines = [
            "requests \(completed) ok, \(errors) failed in \(format(seconds)) s: \(format(throughput)) ops/s",
            "latency ms: p50 \(format(percentileMs(0.5)))  p90 \(format(percentileMs(0.9)))  "
                + "p99 \(format(percentileMs(0.99)))  p99.9 \(format(percentileMs(0.999)))  max \(format(percentileMs(1)))",
        ]
        if let firstError { lines.append("first error: \(firstError)") }
        if let memberCosts { lines.append(memberCosts) }
        return lines.joined(separator: "\n")
    }
}
