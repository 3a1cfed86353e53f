import ArgumentParser
import Foundation
import WRaftClient

/// Runs `body` with a client of the node, shutting the client down on every path and turning
/// client errors into CLI errors that name the node.
func withNodeClient<Result: Sendable>(
    _ connection: NodeConnectionOptions, _ body: (NodeClient) async throws(WRaftClientError) -> Result
) async throws -> Result {
    let client = try connection.makeClient()
    do {
        let result = try await body(client)
        await client.shutDown()
        return result
    } catch {
        await client.shutDown()
        throw error.forCLI(node: connection.node)
    }
}

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Write a key through consensus (optionally compare-and-set).",
        discussion: """
            Any node accepts the write; a follower forwards it to the leader. Prints the log index \
            and term of the entry that carried it once it is committed and applied.
            Examples:
              wraft put greeting hello
              wraft put counter 2 --prev-value 1      (only if the value is 1)
              wraft put lock me --prev-index 0        (only if the key does not exist)
            """)

    @OptionGroup var connection: NodeConnectionOptions
    @Argument(help: "The key (1 to 1024 bytes of UTF-8).") var key: String
    @Argument(help: "The value (text; up to 1 MiB).") var value: String
    @Option(help: "Compare-and-set: write only if the current value is exactly this.") var prevValue: String?
    @Option(help: "Compare-and-set: write only if the key was last modified at this index (0: absent).")
    var prevIndex: UInt64?

    func validate() throws {
        guard prevValue == nil || prevIndex == nil else {
            throw ValidationError("give --prev-value or --prev-index, not both")
        }
    }

    func run() async throws {
        let timeoutMs = connection.serverTimeoutMs
        let (key, value, prevValue, prevIndex) = (key, value, prevValue, prevIndex)
        let result = try await withNodeClient(connection) { client throws(WRaftClientError) in
            try await client.put(key, value, prevValue: prevValue, prevIndex: prevIndex, timeoutMs: timeoutMs)
        }
        print("OK \(result.key) index=\(result.index) term=\(result.term)")
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Read a key (linearizable by default).",
        discussion: """
            Prints the value. With --local the node answers from its own state machine without \
            asking the leader: it may be stale, and it works with no leader at all. Exits with 1 \
            when the key does not exist.
            """)

    @OptionGroup var connection: NodeConnectionOptions
    @Argument(help: "The key.") var key: String
    @Flag(help: "Read this node's state as it is (may be stale).") var local = false
    @Flag(help: "Also print the index and term that last modified the key (to stderr).") var showIndex = false

    func run() async throws {
        let timeoutMs = connection.serverTimeoutMs
        let consistency: ReadConsistency = local ? .local : .linearizable
        let key = key
        let result = try await withNodeClient(connection) { client throws(WRaftClientError) in
            try await client.get(key, consistency: consistency, timeoutMs: timeoutMs)
        }
        guard let result else { throw CLIError("\(key): not found") }
        FileHandle.standardOutput.write(Data(result.value))
        if isatty(STDOUT_FILENO) != 0 { print() }
        if showIndex { printToStandardError("index=\(result.index) term=\(result.term)") }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a key through consensus (optionally compare-and-set).")

    @OptionGroup var connection: NodeConnectionOptions
    @Argument(help: "The key.") var key: String
    @Option(help: "Delete only if the current value is exactly this.") var prevValue: String?
    @Option(help: "Delete only if the key was last modified at this index.") var prevIndex: UInt64?

    func validate() throws {
        guard prevValue == nil || prevIndex == nil else {
            throw ValidationError("give --prev-value or --prev-index, not both")
        }
    }

    func run() async throws {
        let timeoutMs = connection.serverTimeoutMs
        let (key, prevValue, prevIndex) = (key, prevValue, prevIndex)
        let result = try await withNodeClient(connection) { client throws(WRaftClientError) in
            try await client.delete(key, prevValue: prevValue, prevIndex: prevIndex, timeoutMs: timeoutMs)
        }
        let what = result.deleted == false ? "did not exist" : "deleted"
        print("OK \(result.key) \(what) index=\(result.index) term=\(result.term)")
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List keys and values in key order.",
        discussion: "Prints one `key = value  (index N)` line per key.")

    /// Bound on `--limit`.
    static let limitMax = 10_000

    @OptionGroup var connection: NodeConnectionOptions
    @Option(help: "Only keys starting with this.") var prefix: String = ""
    @Option(help: "At most this many keys (1...\(ListCommand.limitMax)).") var limit: Int = 100
    @Flag(help: "Read this node's state as it is (may be stale).") var local = false

    func validate() throws {
        guard (1...Self.limitMax).contains(limit) else { throw ValidationError("--limit must be in 1...\(Self.limitMax)") }
    }

    func run() async throws {
        let timeoutMs = connection.serverTimeoutMs
        let (prefix, limit) = (prefix, limit)
        let consistency: ReadConsistency = local ? .local : .linearizable
        let result = try await withNodeClient(connection) { client throws(WRaftClientError) in
            try await client.list(prefix: prefix, limit: limit, consistency: consistency, timeoutMs: timeoutMs)
        }
        for item in result.items {
            let value = item.encoding == "base64" ? "\(item.value) (base64)" : item.value
            print("\(item.key) = \(value)  (index \(item.index))")
        }
        if result.items.isEmpty { print("(no keys\(prefix.isEmpty ? "" : " starting with '\(prefix)'"))") }
        if result.more { print("(more keys follow: raise --limit)") }
    }
}

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Show a node's view of itself and of the cluster.")

    @OptionGroup var connection: NodeConnectionOptions
    @Flag(help: "Print the raw JSON of GET /state.") var json = false

    func run() async throws {
        if json {
            let response = try await withNodeClient(connection) { client throws(WRaftClientError) in
                try await client.send(HTTPRequest(method: "GET", target: "/state"))
            }
            guard response.isSuccess else { throw CLIError("\(connection.node): HTTP \(response.status): \(response.bodyText)") }
            print(response.bodyText)
            return
        }
        let state = try await withNodeClient(connection) { client throws(WRaftClientError) in
            try await client.state()
        }
        print(StateFormatter.describe(state))
    }
}

/// The readable form of `/state`.
enum StateFormatter {
    static func describe(_ state: NodeState) -> String {
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

/// Writes a line to standard error.
func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
