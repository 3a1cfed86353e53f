import ArgumentParser
import Foundation
import WRaftAPI
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
        discussion: """
            Prints one `key = value  (index N)` line per key. A node answers at most --limit keys \
            (and fewer when the values are large); with --all the command follows the node's \
            continuation cursor page after page until every key with the prefix is printed.
            Examples:
              wraft list --prefix user/
              wraft list --all --limit 1000
            """)

    /// Bound on `--limit`.
    static let limitMax = 10_000
    /// Bound on the pages `--all` asks for (at `--limit` keys each), so a node that never says
    /// "done" cannot keep the command running for ever.
    static let pagesMax = 100_000

    @OptionGroup var connection: NodeConnectionOptions
    @Option(help: "Only keys starting with this.") var prefix: String = ""
    @Option(help: "At most this many keys (per page with --all) (1...\(ListCommand.limitMax)).") var limit: Int = 100
    @Flag(help: "Follow the continuation cursor until every key is listed (at most \(ListCommand.pagesMax) pages).")
    var all = false
    @Flag(help: "Read this node's state as it is (may be stale).") var local = false

    func validate() throws {
        guard (1...Self.limitMax).contains(limit) else { throw ValidationError("--limit must be in 1...\(Self.limitMax)") }
    }

    func run() async throws {
        let timeoutMs = connection.serverTimeoutMs
        let (prefix, limit, all) = (prefix, limit, all)
        let consistency: ReadConsistency = local ? .local : .linearizable
        let outcome = try await withNodeClient(connection) { client throws(WRaftClientError) in
            try await Self.listPages(
                client: client, prefix: prefix, limit: limit, all: all, consistency: consistency, timeoutMs: timeoutMs,
                print: { item in
                    let value = item.encoding == "base64" ? "\(item.value) (base64)" : item.value
                    print("\(item.key) = \(value)  (index \(item.index))")
                })
        }
        if outcome.printed == 0 { print("(no keys\(prefix.isEmpty ? "" : " starting with '\(prefix)'"))") }
        switch outcome.end {
        case .done: break
        case .more: print("(more keys follow: use --all, or raise --limit)")
        case .noCursor: print("(more keys follow, but this node gives no continuation cursor: raise --limit)")
        case .pageBound: throw CLIError("stopped after \(Self.pagesMax) pages; more keys follow")
        }
    }

    /// How a listing ended.
    enum End: Equatable {
        case done
        /// One page was asked for and more keys follow.
        case more
        /// More keys follow but the node sent no cursor to continue from.
        case noCursor
        /// `pagesMax` pages were read and more keys follow.
        case pageBound
    }

    /// Reads one page, or with `all` every page, printing items as they come (nothing is
    /// accumulated, so any number of keys can be listed). A cursor that does not advance is
    /// the node's error, reported rather than followed for ever.
    static func listPages(
        client: NodeClient, prefix: String, limit: Int, all: Bool, consistency: ReadConsistency, timeoutMs: Int,
        pagesMax: Int = ListCommand.pagesMax, print: (ListView.Item) -> Void
    ) async throws(WRaftClientError) -> (printed: Int, end: End) {
        var cursor: String?
        var printed = 0
        for _ in 0..<pagesMax {
            let page = try await client.list(
                prefix: prefix, limit: limit, cursor: cursor, consistency: consistency, timeoutMs: timeoutMs)
            for item in page.items { print(item) }
            printed += page.items.count
            guard page.more else { return (printed, .done) }
            guard all else { return (printed, .more) }
            guard let next = page.next, !next.isEmpty else { return (printed, .noCursor) }
            guard next != cursor else { throw .badResponse("the node returned the same list cursor twice") }
            cursor = next
        }
        return (printed, .pageBound)
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

/// Writes a line to standard error.
func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
