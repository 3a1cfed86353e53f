import ArgumentParser
import Foundation
import WRaftAPI
import WRaftClient
import WRaftLauncher
import WRaftLoad

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: HTTP load against a cluster (default), or the Raft core alone.",
        subcommands: [HTTPBenchCommand.self, CoreBenchCommand.self],
        defaultSubcommand: HTTPBenchCommand.self)
}

struct HTTPBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "HTTP load: N connections writing or reading for a duration; prints throughput and latency.",
        discussion: """
            Each connection runs one request at a time, back to back, against the nodes in turn \
            (connection i uses node i mod count); a follower forwards writes to the leader inside \
            Raft. Latency is measured per request from send to complete answer; requests of the \
            warm-up are not counted. Percentiles are exact (sorted samples).
            Examples:
              wraft bench --start 3                          (starts its own 3-node cluster)
              wraft bench --node 127.0.0.1:8081 --connections 64 --duration 30s
              wraft bench --start 3 --mode read --consistency local
              wraft bench --start 3 --compare-peer-tls       (plaintext, then mutual TLS between members)
              wraft bench --node https://10.0.0.1:8081 --cacert certs/ca.pem   (token from $WRAFT_TOKEN)
            """)

    static let connectionsRange = 1...1_024
    static let valueBytesRange = 1...(1 << 20)
    static let keyCountRange = 1...1_000_000
    /// Latency samples kept per connection; past it requests are counted but not sampled.
    static let samplesPerConnectionMax = 2_000_000

    @Option(name: .customLong("node"), help: "A node's HTTP address; repeat for several (default 127.0.0.1:8081).")
    var nodes: [String] = []
    @Option(help: "Start a local cluster of this many nodes for the run (fsync on, faults off).") var start: Int?
    @Option(help: "Concurrent connections (\(connectionsRange)).") var connections: Int = 64
    @Option(help: "How long to measure (e.g. 10s, 1m).") var duration = DurationArgument(milliseconds: 10_000)
    @Option(help: "Load before measuring, not counted.") var warmup = DurationArgument(milliseconds: 1_000)
    @Option(help: "Bytes per written value (\(valueBytesRange)).") var valueBytes: Int = 256
    @Option(help: "write or read.") var mode: LoadMode = .write
    @Option(help: "The number of distinct keys used (\(keyCountRange)).") var keys: Int = 1_000
    @Option(help: "For reads: linearizable or local.") var consistency: ReadConsistency = .linearizable
    @Option(help: "Seed of the key choice.") var seed: UInt64 = 1
    @Option(help: "With --start: the folder for the cluster (default: a temporary folder, removed after).")
    var dir: String?
    @Flag(help: "With --start: mutual TLS between the members (certificates made in the cluster's folder).")
    var peerTLS = false
    @Flag(help: "With --start: measure a plaintext cluster, then a mutual-TLS one, side by side in one run, and print the cost.")
    var comparePeerTLS = false
    @Option(help: "The bearer token sent with every request (default: $WRAFT_TOKEN).") var token: String?
    @Option(help: "With https:// nodes: the CA (PEM) their certificates must chain to (default: the system's roots).")
    var cacert: String?

    func validate() throws {
        guard Self.connectionsRange.contains(connections) else { throw ValidationError("--connections must be in \(Self.connectionsRange)") }
        guard Self.valueBytesRange.contains(valueBytes) else { throw ValidationError("--value-bytes must be in \(Self.valueBytesRange)") }
        guard Self.keyCountRange.contains(keys) else { throw ValidationError("--keys must be in \(Self.keyCountRange)") }
        if let start {
            guard LocalCluster.Options.nodeCountRange.contains(start) else {
                throw ValidationError("--start must be in \(LocalCluster.Options.nodeCountRange)")
            }
            guard nodes.isEmpty else { throw ValidationError("give --start or --node, not both") }
        }
        for node in nodes {
            do { _ = try NodeAddress(parsing: node) } catch { throw ValidationError("--node: \(error)") }
        }
        guard start != nil || !(peerTLS || comparePeerTLS) else {
            throw ValidationError("--peer-tls and --compare-peer-tls need --start")
        }
        guard !(peerTLS && comparePeerTLS) else { throw ValidationError("give --peer-tls or --compare-peer-tls, not both") }
        if let token = bearerToken {
            do { try NodeClient.checkToken(token) } catch { throw ValidationError("--token: \(error)") }
        }
    }

    /// `--token`, else `$WRAFT_TOKEN` when set and not empty.
    private var bearerToken: String? {
        token ?? ProcessInfo.processInfo.environment[EndpointOptions.tokenEnvironmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    func run() async throws {
        guard comparePeerTLS else {
            let report = try await runOnce(peerTLS: peerTLS)
            print(report.text)
            if report.completed == 0 { throw CLIError("no request succeeded") }
            return
        }
        printNow("== plaintext between members ==")
        let plaintext = try await runOnce(peerTLS: false)
        print(plaintext.text)
        printNow("== mutual TLS between members ==")
        let tls = try await runOnce(peerTLS: true)
        print(tls.text)
        guard plaintext.completed > 0, tls.completed > 0 else { throw CLIError("no request succeeded") }
        let costPercent = 100 * (1 - tls.throughput / plaintext.throughput)
        print(
            "peer mTLS: \(Int(tls.throughput)) ops/s vs \(Int(plaintext.throughput)) ops/s plaintext: "
                + "\(String(format: "%.1f", costPercent))% \(costPercent >= 0 ? "slower" : "faster")")
    }

    /// Starts a cluster when asked (with or without peer TLS), measures, stops it.
    private func runOnce(peerTLS: Bool) async throws -> LoadReport {
        var cluster: LocalCluster?
        var temporaryDirectory: String?
        var addresses = try nodes.map { try NodeAddress(parsing: $0) }
        if let start {
            let suffix = comparePeerTLS ? (peerTLS ? "/tls" : "/plaintext") : ""
            let directory = (dir ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("wraft-bench-\(ProcessInfo.processInfo.processIdentifier)").path) + suffix
            if dir == nil { temporaryDirectory = directory }
            var options = LocalCluster.Options(executablePath: SelfExecutable.path, nodeCount: start, directory: directory)
            options.enableFaults = false
            options.logLevel = "warning"
            options.isPeerTLSEnabled = peerTLS
            printNow("starting a \(start)-node cluster in \(directory)\(peerTLS ? " (mutual TLS between members)" : "")")
            do {
                let started = try await LocalCluster.start(options: options)
                cluster = started
                addresses = await started.nodes.map(\.httpAddress)
            } catch {
                throw CLIError("\(error)")
            }
        }
        if addresses.isEmpty { addresses = [NodeAddress(host: "127.0.0.1", port: 8081)] }
        let report: LoadReport
        do {
            report = try await measure(addresses)
        } catch {
            await cluster?.stopAll()
            throw error
        }
        await cluster?.stopAll()
        if let temporaryDirectory { try? FileManager.default.removeItem(atPath: temporaryDirectory) }
        return report
    }

    private func measure(_ addresses: [NodeAddress]) async throws -> LoadReport {
        let workload = LoadWorkload(
            mode: mode, keyCount: keys, value: [UInt8](repeating: UInt8(ascii: "v"), count: valueBytes),
            consistency: consistency, seed: seed)
        let clients = try addresses.enumerated().map { position, address throws(CLIError) in
            let share = connections / addresses.count + (position < connections % addresses.count ? 1 : 0)
            do throws(WRaftClientError) {
                return try NodeClient(
                    address: address, tls: address.isSecure ? ClientTLS(trustedCAFile: cacert) : nil, bearerToken: bearerToken,
                    connectionsMax: max(1, share), requestTimeoutMs: 10_000)
            } catch {
                throw error.forCLI(node: address.url)
            }
        }
        defer { Task { for client in clients { await client.shutDown() } } }
        if mode == .read {
            printNow("writing \(keys) keys to read")
            try await workload.preload(clients: clients, connections: connections)
        }
        printNow(
            "bench: \(mode.rawValue), \(connections) connections, \(valueBytes) B values, \(keys) keys, "
                + "\(duration) after \(warmup) warm-up, nodes \(addresses.map(\.description).joined(separator: " "))")
        let start = ContinuousClock.now
        let measureFrom = start + warmup.duration
        let end = measureFrom + duration.duration
        // Each member's counters at the start and the end of the measured window, read on
        // connections of their own so that the scrape never waits behind the load.
        let scrapers = addresses.compactMap { address in
            try? NodeClient(
                address: address, tls: address.isSecure ? ClientTLS(trustedCAFile: cacert) : nil, bearerToken: bearerToken,
                connectionsMax: 1, requestTimeoutMs: 5_000)
        }
        defer { Task { for scraper in scrapers { await scraper.shutDown() } } }
        let before = Task {
            try? await Task.sleep(until: measureFrom, clock: .continuous)
            return (ContinuousClock.now, await Self.counters(scrapers))
        }
        var report = await workload.run(
            clients: clients, connections: connections, measureFrom: measureFrom, end: end,
            measuredMs: duration.milliseconds, samplesPerConnectionMax: Self.samplesPerConnectionMax)
        let (startedAt, first) = await before.value
        let second = await Self.counters(scrapers)
        let seconds = Double((ContinuousClock.now - startedAt) / .milliseconds(1)) / 1_000
        let costs = zip(scrapers, zip(first, second)).compactMap { scraper, pair -> MemberCost? in
            guard let before = pair.0, let after = pair.1, seconds > 0 else { return nil }
            return MemberCost(
                member: scraper.address.description, before: before, after: after, seconds: seconds,
                requests: report.completed)
        }
        report.memberCosts =
            costs.count == addresses.count
            ? MemberCost.text(costs)
            : "where the time goes: \(addresses.count - costs.count) of \(addresses.count) members' /metrics could not be read"
        return report
    }

    /// Each scraper's member counters, nil where its `/metrics` could not be read or parsed.
    private static func counters(_ scrapers: [NodeClient]) async -> [MemberCounters?] {
        var result: [MemberCounters?] = []
        for scraper in scrapers {
            let text = try? await scraper.metricsText(timeoutMs: 5_000)
            result.append(text.flatMap { MemberCounters(MetricsScrape($0)) })
        }
        return result
    }
}

extension ReadConsistency: ExpressibleByArgument {}
extension LoadMode: ExpressibleByArgument {}
