import ArgumentParser
import WRaftAPI
import WRaftClient

/// `wraft op ...`: the fault operations of `POST /op/...`, on one node.
struct OpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "op",
        abstract: "Inject or clear a fault on one node (POST /op/...; the node runs with --enable-faults).",
        discussion: """
            A fault acts on the node it is sent to: the FIRST endpoint only, never another one \
            (`--endpoints` picks the node). It shows under "faults" in `wraft state`; `wraft op \
            heal` clears them all.
            Examples:
              wraft op pause --endpoints 127.0.0.1:8082
              wraft op isolate --peers 3f2a...,77c1... --endpoints 127.0.0.1:8082
              wraft op delay --ms 50 --jitter-ms 20
              wraft op transfer 77c1...      (leadership to that member; send it to the leader)
            \(ClientExit.helpText)
            """,
        subcommands: [
            OpPauseCommand.self, OpResumeCommand.self, OpIsolateCommand.self, OpDelayCommand.self, OpDropCommand.self,
            OpHealCommand.self, OpCrashCommand.self, OpStepDownCommand.self, OpTransferCommand.self,
            OpSnapshotCommand.self,
        ])

    /// The node's bound on `--ms` and `--jitter-ms`.
    static let delayMsMax = 10_000
    /// Bound on `--peers`.
    static let peersMax = 64

    /// Sends `fault` to the first endpoint and prints the node's answer.
    static func inject(_ fault: Fault, endpoints: EndpointOptions) async throws {
        try await runClientCommand {
            let timeoutMs = endpoints.timeoutMs
            let (_, endpoint) = try await endpoints.withFailover(.never) { client throws(WRaftClientError) in
                try await client.inject(fault, timeoutMs: timeoutMs)
            }
            switch endpoints.format() {
            case .simple: print("\(fault.name.rawValue) ok (\(endpoint.description))")
            case .table:
                var table = TextTable(["ENDPOINT", "OP", "OK"])
                table.append([endpoint.url, fault.name.rawValue, "true"])
                print(table.rendered)
            case .json: printJSON(FaultInjectedView(op: fault.name, ok: true).encodedJSON())
            }
        }
    }
}

struct OpPauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Freeze the node: drop all its raft traffic, stop its timers.",
        discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    func run() async throws { try await OpCommand.inject(.pause, endpoints: endpoints) }
}

struct OpResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Undo pause.", discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    func run() async throws { try await OpCommand.inject(.resume, endpoints: endpoints) }
}

struct OpIsolateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isolate", abstract: "Drop raft traffic to and from some peers (default: all): a partition.",
        discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    @Option(help: "Member ids, comma-separated (default: every peer).") var peers: String?

    func validate() throws {
        guard let peers else { return }
        let ids = peers.split(separator: ",", omittingEmptySubsequences: false)
        guard ids.count <= OpCommand.peersMax else { throw ValidationError("at most \(OpCommand.peersMax) peers") }
        guard ids.allSatisfy({ (1...MemberRemoveCommand.idBytesMax).contains($0.utf8.count) }) else {
            throw ValidationError("--peers takes member ids (16 hex digits), comma-separated")
        }
    }

    func run() async throws {
        let ids = peers.map { $0.split(separator: ",").map(String.init) }
        try await OpCommand.inject(.isolate(peers: ids), endpoints: endpoints)
    }
}

struct OpDelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delay", abstract: "Delay every outgoing raft message.", discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    @Option(help: "The delay in milliseconds (0...\(OpCommand.delayMsMax)).") var ms: Int
    @Option(help: "Random extra delay up to this many milliseconds (0...\(OpCommand.delayMsMax)).") var jitterMs: Int = 0

    func validate() throws {
        guard (0...OpCommand.delayMsMax).contains(ms), (0...OpCommand.delayMsMax).contains(jitterMs) else {
            throw ValidationError("--ms and --jitter-ms must be in 0...\(OpCommand.delayMsMax)")
        }
    }

    func run() async throws { try await OpCommand.inject(.delay(ms: ms, jitterMs: jitterMs), endpoints: endpoints) }
}

struct OpDropCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drop", abstract: "Drop a fraction of outgoing raft messages.", discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    @Option(help: "The fraction dropped (0...1).") var rate: Double

    func validate() throws {
        guard rate.isFinite, (0...1).contains(rate) else { throw ValidationError("--rate must be in 0...1") }
    }

    func run() async throws { try await OpCommand.inject(.drop(rate: rate), endpoints: endpoints) }
}

struct OpHealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heal", abstract: "Clear every fault on the node.", discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    func run() async throws { try await OpCommand.inject(.heal, endpoints: endpoints) }
}

struct OpCrashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash", abstract: "Make the node exit at once, without a clean shutdown.",
        discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    func run() async throws { try await OpCommand.inject(.crash, endpoints: endpoints) }
}

struct OpStepDownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step-down", abstract: "Make a leader hand leadership to its most up-to-date peer.",
        discussion: "Sent to a node that is not the leader it is refused (409 not_leader, exit 8).\n" + ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    func run() async throws { try await OpCommand.inject(.stepDown, endpoints: endpoints) }
}

struct OpTransferCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer", abstract: "Transfer leadership to a member (send it to the leader).",
        discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The member id to lead.") var to: String

    func validate() throws {
        guard (1...MemberRemoveCommand.idBytesMax).contains(to.utf8.count) else {
            throw ValidationError("a member id has 1...\(MemberRemoveCommand.idBytesMax) characters (16 hex digits)")
        }
    }

    func run() async throws { try await OpCommand.inject(.transfer(to: to), endpoints: endpoints) }
}

struct OpSnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Take a snapshot now and compact the log.", discussion: ClientExit.helpText)
    @OptionGroup var endpoints: EndpointOptions
    func run() async throws { try await OpCommand.inject(.snapshot, endpoints: endpoints) }
}
