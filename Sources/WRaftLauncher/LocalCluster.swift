import Foundation
import WRaftCertificates
import WRaftClient
import WRaftSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A cluster of `wraft serve` processes on this machine: the launcher behind `wraft cluster`,
/// `wraft check` and the integration tests.
///
/// Every node gets its own ports, data dir `DIRECTORY/node-N` and log `DIRECTORY/node-N.log`.
/// Every wait is bounded by the options; every process is stopped by its pid.
public actor LocalCluster {
    /// How to launch the cluster; every bound has a default.
    public struct Options: Sendable {
        /// Bounds on `nodeCount` (the cluster command's) and on nodes including added ones.
        public static let nodeCountRange = 1...7
        public static let nodesMax = 9

        /// The `wraft` executable.
        public var executablePath: String
        public var nodeCount: Int
        /// The folder that holds the data dirs and logs.
        public var directory: String
        public var host: String = "127.0.0.1"
        /// Pass `--enable-faults` to every node.
        public var enableFaults: Bool = true
        /// Node i (from 0) listens on `baseHTTPPort + i` and `baseRaftPort + i`; nil: free ports.
        public var baseHTTPPort: Int?
        public var baseRaftPort: Int?
        /// Serve etcd's v3 gRPC API on every node (`--etcd-port`): node i on `baseEtcdPort + i`,
        /// or a free port when that is nil. `wraft cluster` turns it on.
        public var isEtcdEnabled: Bool = false
        public var baseEtcdPort: Int?
        public var logLevel: String = "info"
        public var electionTimeoutMs: Int?
        public var heartbeatMs: Int?
        /// Each node's `--slow-motion` (nil: normal speed).
        public var slowMotionFactor: Int?
        /// Each node's `--threads` (nil: the machine's cores shared among the nodes, at least 1;
        /// fewer threads than busy processes only adds thread switches).
        public var threadsPerNode: Int?
        /// More `serve` arguments, given to every node.
        public var extraArguments: [String] = []
        /// nil: node i connects to node 0 and node 0 starts; a seed: a random spanning tree of
        /// connects in a random order, and a random node starts, all drawn from the seed.
        public var connectOrderSeed: UInt64?
        /// Bound on a launched node's HTTP port starting to answer.
        public var reachableTimeoutMs: Int = 20_000
        /// Bound on an agreed leader appearing.
        public var leaderTimeoutMs: Int = 20_000
        /// Bound between SIGTERM and SIGKILL when stopping a node.
        public var stopTimeoutMs: Int = 5_000
        /// Nodes exit by themselves when this process dies (`serve --exit-with-parent`).
        public var exitWithParent: Bool = true
        /// Attempts with new free ports when a port is taken meanwhile.
        public var launchAttemptsMax: Int = 3
        /// Mutual TLS on every raft port: a CA and a certificate per node are made in
        /// `DIRECTORY/certs` (and reused when the same directory is started again), and every node
        /// is started with `--peer-cert-file`, `--peer-key-file` and `--peer-trusted-ca-file`.
        /// The HTTP API stays plain HTTP on `host`. Off by default for the test harnesses' speed;
        /// `wraft cluster` and `wraft check` turn it on.
        public var isPeerTLSEnabled: Bool = false

        public init(executablePath: String, nodeCount: Int = 3, directory: String) {
            self.executablePath = executablePath
            self.nodeCount = nodeCount
            self.directory = directory
        }

        func validate() throws(LocalClusterError) {
            guard Self.nodeCountRange.contains(nodeCount) else {
                throw .invalidOptions("nodeCount \(nodeCount) is outside \(Self.nodeCountRange)")
            }
            guard (baseHTTPPort == nil) == (baseRaftPort == nil) else {
                throw .invalidOptions("give both base ports or neither")
            }
            if let http = baseHTTPPort, let raft = baseRaftPort {
                let httpPorts = http..<(http + Self.nodesMax)
                let raftPorts = raft..<(raft + Self.nodesMax)
                guard http >= 1, raft >= 1, http + Self.nodesMax <= 65_536, raft + Self.nodesMax <= 65_536,
                    !httpPorts.overlaps(raftPorts)
                else { throw .invalidOptions("base ports \(http)/\(raft) overlap or leave the port range") }
            }
            if let etcd = baseEtcdPort {
                guard etcd >= 1, etcd + Self.nodesMax <= 65_536 else {
                    throw .invalidOptions("base etcd port \(etcd) leaves the port range")
                }
            }
            guard reachableTimeoutMs > 0, leaderTimeoutMs > 0, stopTimeoutMs > 0, launchAttemptsMax >= 1 else {
                throw .invalidOptions("timeouts and attempts must be positive")
            }
        }
    }

    /// The folder of the cluster's CA and node certificates (`DIRECTORY/certs`).
    public nonisolated var certificateDirectory: String {
        (options.directory as NSString).appendingPathComponent("certs")
    }

    /// The certificate name of node `index` (its files are `node-INDEX.pem` and `node-INDEX-key.pem`).
    public nonisolated func certificateName(_ index: Int) -> String {
        "node-\(index)"
    }

    /// One node of the cluster.
    public struct Node: Sendable, Equatable {
        /// Position in the cluster, from 0.
        public let index: Int
        public let httpAddress: NodeAddress
        public let raftAddress: NodeAddress
        /// Where etcd clients reach the node (nil: etcd's API is off).
        public let etcdAddress: NodeAddress?
        public let dataDirectory: String
        public let logFile: String
        /// The current process's pid; nil while stopped.
        public internal(set) var processID: Int32?
        /// The node's Raft id, once it has answered `/state`.
        public internal(set) var id: String?
    }

    public nonisolated let options: Options
    private var nodeList: [Node] = []
    private var processes: [Int: Process] = [:]
    /// Invariant: clientList[i] talks to nodeList[i]; both grow together.
    private var clientList: [NodeClient] = []

    public init(options: Options) throws(LocalClusterError) {
        try options.validate()
        guard FileManager.default.isExecutableFile(atPath: options.executablePath) else {
            throw .executableMissing(path: options.executablePath)
        }
        self.options = options
    }

    /// Launches, forms and starts a cluster and waits for its leader; on any failure every
    /// process already started is stopped before the error is thrown.
    public static func start(options: Options) async throws(LocalClusterError) -> LocalCluster {
        let cluster = try LocalCluster(options: options)
        do {
            try await cluster.launch()
            try await cluster.form()
            _ = try await cluster.waitForLeader()
            return cluster
        } catch {
            await cluster.stopAll()
            throw error
        }
    }

    // MARK: Views

    /// A snapshot of the nodes.
    public var nodes: [Node] { nodeList }

    /// The client of node `index` (HTTP port).
    public func client(_ index: Int) throws(LocalClusterError) -> NodeClient {
        guard clientList.indices.contains(index) else { throw .unknownNode(index) }
        return clientList[index]
    }

    /// The clients of every node, in index order.
    public var clients: [NodeClient] { clientList }

    /// True while node `index`'s process runs (a SIGSTOPped process runs).
    public func isRunning(_ index: Int) -> Bool {
        processes[index]?.isRunning ?? false
    }

    /// The indexes of the nodes whose process runs.
    public var runningIndexes: [Int] { nodeList.map(\.index).filter { isRunning($0) } }

    /// The last `bytesMax` bytes of node `index`'s log.
    public func logTail(_ index: Int, bytesMax: Int = 4_096) -> String {
        guard index < nodeList.count, let handle = FileHandle(forReadingAtPath: nodeList[index].logFile) else {
            return ""
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(bytesMax) ? size - UInt64(bytesMax) : 0)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    // MARK: Launch and formation

    /// Starts the node processes (free ports unless base ports are given) and waits until each
    /// answers on its HTTP port. Nodes are left `initial`: call `form()` next.
    ///
    /// Data dirs left by an earlier run are reused (the nodes come back `running` by
    /// themselves: call `waitForLeader()`, not `form()`); that needs the same ports, so it is
    /// refused with free ports.
    public func launch() async throws(LocalClusterError) {
        precondition(nodeList.isEmpty, "LocalCluster: launch() is called once")
        try createDirectory(options.directory)
        let hasGivenPorts = options.baseHTTPPort != nil
        if !hasGivenPorts && hasExistingData {
            throw .invalidOptions("\(options.directory) holds node data: restarting it needs the same base ports")
        }
        var lastError = LocalClusterError.portsUnavailable("no attempt made")
        for _ in 0..<options.launchAttemptsMax {
            do {
                try await launchAttempt()
                return
            } catch {
                lastError = error
                await stopAll()
                nodeList = []
                clientList = []
                // Given ports cannot change, so trying again cannot help; existing data is kept.
                if hasGivenPorts { break }
                // These data dirs were made by this attempt (checked above): start clean.
                removeNodeFiles()
            }
        }
        throw lastError
    }

    /// True when a data dir of this cluster's first `nodeCount` nodes exists and is not empty.
    public var hasExistingData: Bool {
        (0..<options.nodeCount).contains { index in
            let contents = try? FileManager.default.contentsOfDirectory(atPath: dataDirectoryPath(index))
            return !(contents ?? []).isEmpty
        }
    }

    private func launchAttempt() async throws(LocalClusterError) {
        for index in 0..<options.nodeCount {
            try addNodeRecord(index: index, ports: try ports(for: index))
        }
        for node in nodeList {
            try await prepareCertificate(node.index)
        }
        for node in nodeList {
            try spawn(node.index)
        }
        for node in nodeList {
            try await waitUntilReachable(node.index)
        }
    }

    /// Forms the cluster with n-1 `/connect`s (order from `connectOrderSeed`) and `/start`s it.
    public func form() async throws(LocalClusterError) {
        var generator = SplitMix64(seed: options.connectOrderSeed ?? 0)
        var order = Array(nodeList.indices)
        if options.connectOrderSeed != nil { order.shuffle(using: &generator) }
        for position in order.indices.dropFirst() {
            let target = options.connectOrderSeed == nil ? order[0] : order[Int.random(in: 0..<position, using: &generator)]
            try await connect(order[position], to: target)
        }
        let starter = options.connectOrderSeed == nil ? order[0] : order.randomElement(using: &generator) ?? 0
        do {
            try await clientList[starter].start()
        } catch {
            throw .formationFailed("/start on node \(starter): \(error)")
        }
    }

    /// `POST /connect` on node `index` with the raft address of node `target`; retried a few
    /// times while the peer's raft port is not yet up.
    public func connect(_ index: Int, to target: Int) async throws(LocalClusterError) {
        guard clientList.indices.contains(index) else { throw .unknownNode(index) }
        guard nodeList.indices.contains(target) else { throw .unknownNode(target) }
        let client = clientList[index]
        let peer = nodeList[target].raftAddress.description
        var lastError = WRaftClientError.shutDown
        for attempt in 0..<5 {
            do {
                try await client.connect(peer: peer)
                return
            } catch {
                lastError = error
                guard Self.isTransientConnectError(error) else { break }
                try? await Task.sleep(for: .milliseconds(100 * (attempt + 1)))
            }
        }
        throw .formationFailed("/connect node \(index) -> node \(target) (\(peer)): \(lastError)")
    }

    /// Waits until every running node among `indexes` (default: all running) answers `/state`
    /// and names the same leader, which itself says it leads; returns that leader's index.
    public func waitForLeader(among indexes: [Int]? = nil, timeoutMs: Int? = nil) async throws(LocalClusterError)
        -> Int
    {
        let timeoutMs = timeoutMs ?? options.leaderTimeoutMs
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        var views: [Int: String] = [:]
        while ContinuousClock.now < deadline {
            let candidates = (indexes ?? runningIndexes).filter { isRunning($0) }
            views = [:]
            var leaderIDs: Set<String> = []
            var leaderIndex: Int?
            for index in candidates {
                do {
                    let state = try await clientList[index].state(timeoutMs: 1_000)
                    record(id: state.id, for: index)
                    views[index] = "node \(index): \(state.status) \(state.role ?? "-") term \(state.term) leader \(state.leader?.id ?? "none")"
                    leaderIDs.insert(state.leader?.id ?? "")
                    if state.isLeader { leaderIndex = index }
                } catch {
                    views[index] = "node \(index): \(error)"
                    leaderIDs.insert("")
                }
            }
            if leaderIDs.count == 1, let leaderIndex, leaderIDs.first == nodeList[leaderIndex].id {
                return leaderIndex
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        let text = views.keys.sorted().compactMap { views[$0] }.joined(separator: "\n")
        throw .noLeader(afterMs: timeoutMs, views: text)
    }

    /// Launches one more, empty node on new ports (for joins); it is `initial` until connected.
    public func addNode() async throws(LocalClusterError) -> Int {
        let index = nodeList.count
        guard index < Options.nodesMax else { throw .invalidOptions("at most \(Options.nodesMax) nodes") }
        try addNodeRecord(index: index, ports: try ports(for: index))
        try await prepareCertificate(index)
        try spawn(index)
        try await waitUntilReachable(index)
        return index
    }

    // MARK: Signals, restarts, stops

    /// Sends `signal` to node `index`'s process (SIGKILL, SIGSTOP, SIGCONT...); after SIGKILL,
    /// waits (bounded) until the process is gone so its ports and data dir are free.
    public func kill(_ index: Int, signal: Int32 = SIGKILL) async throws(LocalClusterError) {
        guard let process = processes[index] else { throw .unknownNode(index) }
        guard process.isRunning else { return }
        _ = sendSignal(signal, to: process.processIdentifier)
        if signal == SIGKILL {
            await waitForExit(process, timeoutMs: options.stopTimeoutMs)
            nodeList[index].processID = nil
        }
    }

    /// Starts node `index` again on its data dir and ports and waits until it answers.
    public func restart(_ index: Int) async throws(LocalClusterError) {
        guard index < nodeList.count else { throw .unknownNode(index) }
        if isRunning(index) { await stop(index) }
        try await prepareCertificate(index)
        try spawn(index)
        try await waitUntilReachable(index)
    }

    /// Stops node `index`: SIGTERM (and SIGCONT, in case it is stopped), SIGKILL after `stopTimeoutMs`.
    public func stop(_ index: Int) async {
        guard let process = processes[index], process.isRunning else { return }
        await stop([process])
        nodeList[index].processID = nil
    }

    /// Stops every node as `stop(_:)` does, all at once.
    public func stopAll() async {
        let running = processes.values.filter(\.isRunning)
        await stop(running)
        for index in nodeList.indices { nodeList[index].processID = nil }
    }

    /// A peer whose raft port is not up yet (502), or a node not answering yet.
    private static func isTransientConnectError(_ error: WRaftClientError) -> Bool {
        switch error {
        case .connectionRefused, .timeout: return true
        case .http(let status, _, _, _): return status == 502 || status == 503
        default: return false
        }
    }

    private func stop(_ targets: [Process]) async {
        for process in targets {
            _ = sendSignal(SIGTERM, to: process.processIdentifier)
            _ = sendSignal(SIGCONT, to: process.processIdentifier)
        }
        for process in targets {
            await waitForExit(process, timeoutMs: options.stopTimeoutMs)
        }
        for process in targets where process.isRunning {
            _ = sendSignal(SIGKILL, to: process.processIdentifier)
            await waitForExit(process, timeoutMs: options.stopTimeoutMs)
        }
    }

    // MARK: Processes

    private func spawn(_ index: Int) throws(LocalClusterError) {
        let node = nodeList[index]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: options.executablePath)
        process.arguments = serveArguments(for: node)
        do {
            let log = try openForAppending(node.logFile)
            defer { try? log.close() }
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
        } catch {
            throw .launchFailed(node: index, reason: "\(error)")
        }
        processes[index] = process
        nodeList[index].processID = process.processIdentifier
    }

    /// The `wraft serve` arguments of a node.
    public func serveArguments(for node: Node) -> [String] {
        var arguments = [
            "serve", "--host", options.host,
            "--http-port", String(node.httpAddress.port), "--raft-port", String(node.raftAddress.port),
            "--data-dir", node.dataDirectory, "--log-level", options.logLevel,
        ]
        if let etcd = node.etcdAddress { arguments += ["--etcd-port", String(etcd.port)] }
        if options.enableFaults { arguments.append("--enable-faults") }
        if options.exitWithParent { arguments.append("--exit-with-parent") }
        if let electionTimeoutMs = options.electionTimeoutMs {
            arguments += ["--election-timeout-ms", String(electionTimeoutMs)]
        }
        if let heartbeatMs = options.heartbeatMs { arguments += ["--heartbeat-ms", String(heartbeatMs)] }
        if let factor = options.slowMotionFactor { arguments += ["--slow-motion", String(factor)] }
        let threads = options.threadsPerNode ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, options.nodeCount))
        arguments += ["--threads", String(threads)]
        if options.isPeerTLSEnabled {
            let name = certificateName(node.index)
            arguments += [
                "--peer-cert-file", CertificateFiles.certificatePath(name: name, in: certificateDirectory),
                "--peer-key-file", CertificateFiles.keyPath(name: name, in: certificateDirectory),
                "--peer-trusted-ca-file", CertificateFiles.authorityCertificatePath(in: certificateDirectory),
            ]
        }
        return arguments + options.extraArguments
    }

    /// With peer TLS: makes (or reuses) the cluster's CA and node `index`'s certificate, valid
    /// for the cluster's host and `localhost`.
    private func prepareCertificate(_ index: Int) async throws(LocalClusterError) {
        guard options.isPeerTLSEnabled else { return }
        do {
            var hosts = [try CertificateHost(parsing: options.host)]
            if options.host != "localhost" { hosts.append(.dnsName("localhost")) }
            let authority = try CertificateFiles.readOrMakeAuthority(in: certificateDirectory)
            _ = try await CertificateFiles.readOrIssue(
                name: certificateName(index), hosts: hosts, by: authority, in: certificateDirectory)
        } catch {
            throw .certificates(node: index, reason: "\(error)")
        }
    }

    private func waitUntilReachable(_ index: Int) async throws(LocalClusterError) {
        let deadline = ContinuousClock.now + .milliseconds(options.reachableTimeoutMs)
        var lastError = "not tried"
        while ContinuousClock.now < deadline {
            guard let process = processes[index], process.isRunning else {
                let status = processes[index]?.terminationStatus ?? -1
                throw .nodeExited(node: index, status: status, logTail: logTail(index, bytesMax: 2_000))
            }
            do {
                let state = try await clientList[index].state(timeoutMs: 1_000)
                record(id: state.id, for: index)
                return
            } catch {
                lastError = "\(error)"
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        throw .notReachable(node: index, afterMs: options.reachableTimeoutMs, lastError: lastError)
    }

    private func waitForExit(_ process: Process, timeoutMs: Int) async {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func sendSignal(_ signal: Int32, to processID: Int32) -> Bool {
        // Never a pid of 0 or below: that would signal a whole process group.
        guard processID > 0 else { return false }
        #if canImport(Glibc)
        return Glibc.kill(processID, signal) == 0
        #else
        return Darwin.kill(processID, signal) == 0
        #endif
    }

    // MARK: Bookkeeping

    private func ports(for index: Int) throws(LocalClusterError) -> (http: Int, raft: Int, etcd: Int?) {
        let etcdBase = options.isEtcdEnabled ? options.baseEtcdPort : nil
        if let http = options.baseHTTPPort, let raft = options.baseRaftPort {
            guard options.isEtcdEnabled else { return (http + index, raft + index, nil) }
            if let etcdBase { return (http + index, raft + index, etcdBase + index) }
            return (http + index, raft + index, try FreePorts.find(count: 1, host: options.host)[0])
        }
        let free = try FreePorts.find(count: 3, host: options.host)
        guard options.isEtcdEnabled else { return (free[0], free[1], nil) }
        return (free[0], free[1], etcdBase.map { $0 + index } ?? free[2])
    }

    private func addNodeRecord(index: Int, ports: (http: Int, raft: Int, etcd: Int?)) throws(LocalClusterError) {
        let directory = dataDirectoryPath(index)
        let node = Node(
            index: index, httpAddress: NodeAddress(host: options.host, port: ports.http),
            raftAddress: NodeAddress(host: options.host, port: ports.raft),
            etcdAddress: ports.etcd.map { NodeAddress(host: options.host, port: $0) }, dataDirectory: directory,
            logFile: directory + ".log", processID: nil, id: nil)
        nodeList.append(node)
        clientList.append(NodeClient(address: node.httpAddress))
    }

    private func dataDirectoryPath(_ index: Int) -> String {
        (options.directory as NSString).appendingPathComponent("node-\(index)")
    }

    private func record(id: String, for index: Int) {
        if nodeList[index].id != id { nodeList[index].id = id }
    }

    private func removeNodeFiles() {
        for node in nodeList {
            try? FileManager.default.removeItem(atPath: node.dataDirectory)
        }
    }

    private func createDirectory(_ path: String) throws(LocalClusterError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .launchFailed(node: -1, reason: "cannot create \(path): \(error)")
        }
    }

    private func openForAppending(_ path: String) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw LocalClusterError.launchFailed(node: -1, reason: "cannot open \(path)")
        }
        try handle.seekToEnd()
        return handle
    }
}
