import ArgumentParser
import Foundation
import WRaftClient
import WRaftLauncher
import WRaftServer

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run a local cluster of node processes until Ctrl-C.",
        discussion: """
            Starts N `wraft serve` processes (fault injection on), each with its data dir and log \
            under --dir, connects them with /connect, starts them with /start, waits for a leader \
            and prints every node's URLs (open the HTTP URL in a browser for the dashboard). \
            Ctrl-C stops every node cleanly. Without base ports the nodes take free ports.
            Run it again with the same --dir and base ports to restart that cluster on its data.
            The raft ports speak mutual TLS: a CA and a certificate per node are made in \
            --dir/certs (and reused on a restart of the same --dir); --insecure turns that off. \
            The HTTP API stays plain HTTP on 127.0.0.1, so the dashboard opens without a warning.
            Every node also serves etcd's v3 gRPC API (--etcd-port; --no-etcd turns it off): the \
            summary prints an ETCDCTL_ENDPOINTS=... line to paste for etcdctl.
            Examples:
              wraft cluster
              wraft cluster --nodes 5 --base-http-port 8081 --base-raft-port 10002 --dir /tmp/wraft
              wraft cluster --slow 10      (elections and heartbeats ten times slower, to watch them)
            """)

    @Option(help: "The number of nodes (\(LocalCluster.Options.nodeCountRange.lowerBound)...\(LocalCluster.Options.nodeCountRange.upperBound)).")
    var nodes: Int = 3
    @Option(help: "Node i listens for HTTP on this port + i (default: free ports).") var baseHTTPPort: Int?
    @Option(help: "Node i listens for Raft on this port + i (default: free ports).") var baseRaftPort: Int?
    @Option(help: "Node i serves etcd's gRPC API on this port + i (default: free ports).") var baseEtcdPort: Int?
    @Flag(help: "Serve no etcd gRPC API.") var noEtcd = false
    @Option(help: "The folder for data dirs and logs (default: a new temporary folder).") var dir: String?
    @Flag(help: "Restart a node whose process died (on its data dir).") var restart = false
    @Option(help: "The nodes' log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = "info"
    @Option(help: "Seed of the random order of /connect calls (default: node i connects to node 0).")
    var seed: UInt64?
    @Option(help: "Election timeout of every node, in milliseconds.") var electionTimeoutMs: Int?
    @Option(help: "Heartbeat interval of every node, in milliseconds.") var heartbeatMs: Int?
    @Option(help: "Run every timer N times slower (ticks, heartbeats, election timeouts; the dashboard animates in the nodes' time), to watch an election step by step.")
    var slow: Int?
    @Option(help: "Event-loop threads of every node (default: the cores shared among the nodes, at least 1).")
    var threads: Int?
    @Flag(help: "Run the raft ports in plaintext, without making certificates.") var insecure = false

    /// How often dead processes are looked for.
    static let monitorIntervalMs = 500

    func validate() throws {
        guard LocalCluster.Options.nodeCountRange.contains(nodes) else {
            throw ValidationError("--nodes must be in \(LocalCluster.Options.nodeCountRange)")
        }
        try EventLoopThreads.validate(threads)
        if let slow, !NodeOptions.slowMotionFactorRange.contains(slow) {
            throw ValidationError("--slow must be in \(NodeOptions.slowMotionFactorRange)")
        }
        guard (baseHTTPPort == nil) == (baseRaftPort == nil) else {
            throw ValidationError("give both --base-http-port and --base-raft-port, or neither")
        }
    }

    func run() async throws {
        let directory = dir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("wraft-cluster-\(ProcessInfo.processInfo.processIdentifier)").path
        var options = LocalCluster.Options(executablePath: SelfExecutable.path, nodeCount: nodes, directory: directory)
        options.baseHTTPPort = baseHTTPPort
        options.baseRaftPort = baseRaftPort
        options.isEtcdEnabled = !noEtcd
        options.baseEtcdPort = baseEtcdPort
        options.logLevel = logLevel
        options.connectOrderSeed = seed
        options.electionTimeoutMs = electionTimeoutMs
        options.heartbeatMs = heartbeatMs
        options.slowMotionFactor = slow
        // An election in slow motion takes `slow` times as long.
        options.leaderTimeoutMs *= max(1, slow ?? 1)
        options.threadsPerNode = threads
        options.enableFaults = true
        options.isPeerTLSEnabled = !insecure
        // The cluster outlives nothing: Ctrl-C stops it, and if this process dies the nodes go too.
        options.exitWithParent = true

        let signals = TerminationSignals.stream()
        let cluster = try await startOrResume(options)
        let leader = try await cluster.waitForLeader()
        await printSummary(cluster, leader: leader, directory: directory)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await monitor(cluster) }
            group.addTask {
                for await signalNumber in signals {
                    printNow("\nreceived signal \(signalNumber): stopping the nodes")
                    return
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
        await cluster.stopAll()
        printNow("stopped; data and logs are in \(directory)")
    }

    private func startOrResume(_ options: LocalCluster.Options) async throws -> LocalCluster {
        let cluster = try LocalCluster(options: options)
        let isResuming = await cluster.hasExistingData
        printNow(isResuming ? "restarting the cluster in \(options.directory)" : "starting \(nodes) nodes in \(options.directory)")
        do {
            try await cluster.launch()
            if !isResuming { try await cluster.form() }
            return cluster
        } catch {
            await cluster.stopAll()
            throw CLIError("\(error)")
        }
    }

    private func printSummary(_ cluster: LocalCluster, leader: Int, directory: String) async {
        let nodes = await cluster.nodes
        for node in nodes {
            let role = node.index == leader ? "  (leader)" : ""
            printNow(
                "node \(node.index)  http://\(node.httpAddress)/  raft \(node.raftAddress)  pid \(node.processID ?? 0)\(role)"
            )
            printNow("        log \(node.logFile)")
        }
        let etcdEndpoints = nodes.compactMap { $0.etcdAddress.map { "\($0)" } }
        if !etcdEndpoints.isEmpty {
            printNow("etcd v3 gRPC API (etcdctl):")
            printNow("ETCDCTL_API=3 ETCDCTL_ENDPOINTS=\(etcdEndpoints.joined(separator: ","))")
        }
        if cluster.options.isPeerTLSEnabled {
            printNow("raft ports: mutual TLS (CA and certificates in \(cluster.certificateDirectory))")
        } else {
            printNow("raft ports: plaintext (--insecure)")
        }
        if let first = nodes.first {
            printNow("try:  wraft put hello world --node \(first.httpAddress)")
            printNow("      curl -s http://\(first.httpAddress)/state")
        }
        printNow("Ctrl-C stops the cluster.")
    }

    /// Reports nodes whose process died, and restarts them when asked.
    private func monitor(_ cluster: LocalCluster) async throws {
        var reported: Set<Int> = []
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(Self.monitorIntervalMs))
            for node in await cluster.nodes where await !cluster.isRunning(node.index) {
                if restart {
                    printNow("node \(node.index) died: restarting it")
                    do {
                        try await cluster.restart(node.index)
                        printNow("node \(node.index) is back (pid \(await cluster.nodes[node.index].processID ?? 0))")
                    } catch {
                        printNow("node \(node.index) did not come back: \(error)")
                    }
                } else if reported.insert(node.index).inserted {
                    printNow("node \(node.index) exited (run with --restart to restart dead nodes)")
                }
            }
        }
    }
}
