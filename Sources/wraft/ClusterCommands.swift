import ArgumentParser
import Foundation
import WRaftAPI
import WRaftClient
import WRaftSupport

struct ConnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Form a cluster: connect the first endpoint's node to peers, by their raft addresses.",
        discussion: """
            Sends POST /connect {"peer": PEER} to the node at the first endpoint, once per PEER, \
            in order (no other endpoint is tried: forming acts on that node). Both nodes initial: \
            their member lists merge, so n nodes need n-1 connects. This node initial and empty, \
            the peer's cluster running: this node joins that cluster as a new member. Then \
            `wraft start` starts the whole connected cluster.
            Examples:
              wraft connect --endpoints 127.0.0.1:8081 127.0.0.1:10003 127.0.0.1:10004
              wraft start --endpoints 127.0.0.1:8081
            -o json prints each answer, one JSON document per line.
            \(ClientExit.helpText)
            """)

    /// Bound on the peers of one command.
    static let peersMax = 64

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "Raft addresses (HOST:RAFTPORT) of the nodes to connect to.") var peers: [String]

    func validate() throws {
        guard !peers.isEmpty else { throw ValidationError("give at least one peer raft address (HOST:RAFTPORT)") }
        guard peers.count <= Self.peersMax else { throw ValidationError("at most \(Self.peersMax) peers") }
        for peer in peers {
            do {
                _ = try HostPort(parsing: peer)
            } catch {
                throw ValidationError("'\(peer)' is not a raft address HOST:PORT: \(error)")
            }
        }
    }

    func run() async throws {
        try await runClientCommand {
            let format = endpoints.format()
            var last: ConnectView?
            for peer in peers {
                let timeoutMs = endpoints.timeoutMs
                let (view, endpoint) = try await endpoints.withFailover(.never) { client throws(WRaftClientError) in
                    try await client.connect(peer: peer, timeoutMs: timeoutMs)
                }
                last = view
                switch format {
                case .simple:
                    let how = view.result == .merged ? "merged with" : "joined cluster \(view.clusterID ?? "?") through"
                    print("\(endpoint.description) \(how) \(peer): \(view.members.count) members")
                case .table: break
                case .json: printJSON(view.encodedJSON())
                }
            }
            if format == .table, let last { print(MemberTable.make(last.members, leaderID: nil).rendered) }
        }
    }
}

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start the connected cluster (POST /start; idempotent).",
        discussion: """
            On any initial node, the whole connected cluster starts with the same membership and \
            elects a leader. Starting a running node again is fine.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions

    func run() async throws {
        try await runClientCommand {
            let timeoutMs = endpoints.timeoutMs
            let (_, endpoint) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
                try await client.start(timeoutMs: timeoutMs)
            }
            switch endpoints.format() {
            case .simple: print("started (\(endpoint.description))")
            case .table:
                var table = TextTable(["ENDPOINT", "STARTED"])
                table.append([endpoint.url, "true"])
                print(table.rendered)
            case .json: printJSON(StartedView(started: true).encodedJSON())
            }
        }
    }
}

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Show a node's view of itself and of the cluster.",
        discussion: """
            The first endpoint that answers (GET /state). -o json prints the node's JSON; \
            simple and table the same readable view.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Flag(help: ArgumentHelp("The same as -o json.", visibility: .hidden)) var json = false

    func run() async throws {
        try await runClientCommand {
            let timeoutMs = endpoints.timeoutMs
            let (state, _) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
                try await client.state(timeoutMs: timeoutMs)
            }
            if json || endpoints.format() == .json {
                printJSON(state.encodedJSON())
            } else {
                print(StateFormatter.describe(state))
            }
        }
    }
}

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show a node's Raft log entries (GET /log).",
        discussion: """
            The entries of the first endpoint that answers: index, term, type (command, noop, \
            membership) and a short summary. Without --from, the last --limit entries.
            \(ClientExit.helpText)
            """)

    /// The node's bound on `limit`.
    static let limitMax = 1_000

    @OptionGroup var endpoints: EndpointOptions
    @Option(help: "The first index to show (default: the last --limit entries).") var from: UInt64?
    @Option(help: "At most this many entries (1...\(LogCommand.limitMax)).") var limit: Int = 20

    func validate() throws {
        guard (1...Self.limitMax).contains(limit) else { throw ValidationError("--limit must be in 1...\(Self.limitMax)") }
        if let from { guard (1...UInt64(Int64.max)).contains(from) else { throw ValidationError("--from must be in 1...\(Int64.max)") } }
    }

    func run() async throws {
        try await runClientCommand {
            let (from, limit, timeoutMs) = (from, limit, endpoints.timeoutMs)
            let (log, endpoint) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
                try await client.log(from: from, limit: limit, timeoutMs: timeoutMs)
            }
            switch endpoints.format() {
            case .simple:
                print("\(endpoint.description): snapshot index \(log.snapshotIndex) term \(log.snapshotTerm)")
                for entry in log.entries { print("\(entry.index) term=\(entry.term) \(entry.type) \(entry.summary)") }
            case .table:
                var table = TextTable(["INDEX", "TERM", "TYPE", "SUMMARY"])
                for entry in log.entries { table.append([String(entry.index), String(entry.term), entry.type, entry.summary]) }
                print(table.rendered)
            case .json:
                printJSON(log.encodedJSON())
            }
        }
    }
}

/// The readable form of `/state`.
enum StateFormatter {
    static func describe(_ state: NodeStateView) -> String {
        var lines: [String] = []
        lines.append("node      \(state.id)  http \(state.httpAddress)  raft \(state.raftAddress)")
        lines.append("status    \(state.status)\(state.role.map { "  role \($0)" } ?? "")  term \(state.term)")
        if let leader = state.leader {
            lines.append("leader    \(leader.id)  http \(leader.httpAddress)")
        } else {
            lines.append("leader    none")
        }
        lines.append(
            "log       commit \(state.commitIndex)  applied \(state.appliedIndex)  last \(state.lastLogIndex)  snapshot \(state.snapshotIndex)"
        )
        lines.append("keys      \(state.keys)")
        if !state.faults.isEmpty { lines.append("faults    \(state.faults.joined(separator: ", "))") }
        lines.append("members   \(state.members.count)")
        for member in state.members {
            var line = "  \(member.id)  http \(member.httpAddress)  raft \(member.raftAddress)"
            line += member.voter ? "  voter" : "  learner"
            if member.id == state.leader?.id { line += "  (leader)" }
            if let matchIndex = member.matchIndex { line += "  match \(matchIndex)" }
            if let lastContactMs = member.lastContactMs { line += "  contact \(lastContactMs) ms ago" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
