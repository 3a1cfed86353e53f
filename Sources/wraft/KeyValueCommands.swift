import ArgumentParser
import Foundation
import NIOCore
import WRaftAPI
import WRaftClient

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Write a key through consensus (optionally compare-and-set).",
        discussion: """
            Any node accepts the write; a follower forwards it to the leader. Prints the log index \
            and term of the entry that carried it once it is committed and applied. The value is \
            the argument, or with `-` standard input, or with `@PATH` the file's bytes (at most \
            \(ValueInput.bytesMax) bytes: a larger input is refused before anything is sent); \
            --literal takes the argument as is, for a value that starts with @ or is a lone -.
            A write goes to the next endpoint only when the previous one could not be reached at \
            all, never after it may have been sent: a timeout exits 7 with the outcome unknown.
            Examples:
              wraft put greeting hello
              wraft put counter 2 --prev-value 1      (only if the value is 1)
              wraft put lock me --prev-index 0        (only if the key does not exist)
              wraft put config @settings.json         (the file's bytes)
              echo hi | wraft put greeting -          (standard input)
              wraft put handle @alice --literal       (the value '@alice')
              wraft put service/a up --lease 7        (deleted when lease 7 ends)
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The key (1 to 1024 bytes of UTF-8).") var key: String
    @Argument(help: "The value: text, `-` for standard input, `@PATH` for a file.") var value: String
    @Flag(help: "Take VALUE as is, even when it is `-` or starts with @.") var literal = false
    @Option(help: "Compare-and-set: write only if the current value is exactly this.") var prevValue: String?
    @Option(help: "Compare-and-set: write only if the key was last modified at this index (0: absent).")
    var prevIndex: UInt64?
    @Option(help: "Attach the key to this lease (`wraft lease grant`): it is deleted when the lease ends.")
    var lease: Int64?

    func validate() throws {
        guard prevValue == nil || prevIndex == nil else {
            throw ValidationError("give --prev-value or --prev-index, not both")
        }
        if let lease { try LeaseCommand.checkID(lease) }
    }

    func run() async throws {
        try await runClientCommand {
            let bytes = try ValueInput(argument: value, literal: literal).read()
            let timeoutMs = endpoints.serverTimeoutMs
            let (key, prevValue, prevIndex, lease) = (key, prevValue, prevIndex, lease)
            let (outcome, _) = try await endpoints.withFailover(.whenNotSent) { client throws(WRaftClientError) in
                try await client.put(key, bytes, prevValue: prevValue, prevIndex: prevIndex, lease: lease, timeoutMs: timeoutMs)
            }
            WriteOutput.print(outcome, format: endpoints.format())
        }
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Read a key (linearizable by default).",
        discussion: """
            Prints the value (-o simple: the bytes as they are; -o json: \
            {"key","value","index","term"}, the value base64 with "encoding": "base64" when it is \
            not UTF-8). With --local the node answers from its own state machine without asking \
            the leader: it may be stale, and it works with no leader at all. With --revision N it \
            reads the key as it was at revision N (exit 8 when N is compacted or in the future). \
            Exits 3 when the key does not exist.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The key.") var key: String
    @Flag(help: "Read this node's state as it is (may be stale).") var local = false
    @Flag(help: "Also print the index and term that last modified the key (to stderr).") var showIndex = false
    @Option(help: "Read the key as it was at this revision.") var revision: UInt64?

    func validate() throws {
        if let revision, revision > UInt64(Int64.max) { throw ValidationError("--revision must be in 0...\(Int64.max)") }
    }

    func run() async throws {
        try await runClientCommand {
            let timeoutMs = endpoints.serverTimeoutMs
            let consistency: ReadConsistency = local ? .local : .linearizable
            let (key, revision) = (key, revision)
            let (found, _) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
                try await client.get(key, consistency: consistency, revision: revision, timeoutMs: timeoutMs)
            }
            guard let found else { throw ClientFailure(.notFound, "\(key): not found") }
            switch endpoints.format() {
            case .simple:
                FileHandle.standardOutput.write(Data(found.value))
                if isatty(STDOUT_FILENO) != 0 { print() }
            case .table:
                var table = TextTable(["KEY", "VALUE", "INDEX", "TERM"])
                table.append([key, found.text, String(found.index), String(found.term)])
                print(table.rendered)
            case .json:
                printJSON(
                    JSONWriter.object { writer in
                        writer.field(CLIField.key, key)
                        writer.valueField(found.value)
                        writer.field(CLIField.index, found.index)
                        writer.field(CLIField.term, found.term)
                    })
            }
            if showIndex { printToStandardError("index=\(found.index) term=\(found.term)") }
        }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a key through consensus (optionally compare-and-set).",
        discussion: """
            Deleting a key that does not exist succeeds (it prints "did not exist"; json has \
            "deleted": false).
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The key.") var key: String
    @Option(help: "Delete only if the current value is exactly this.") var prevValue: String?
    @Option(help: "Delete only if the key was last modified at this index.") var prevIndex: UInt64?

    func validate() throws {
        guard prevValue == nil || prevIndex == nil else {
            throw ValidationError("give --prev-value or --prev-index, not both")
        }
    }

    func run() async throws {
        try await runClientCommand {
            let timeoutMs = endpoints.serverTimeoutMs
            let (key, prevValue, prevIndex) = (key, prevValue, prevIndex)
            let (outcome, _) = try await endpoints.withFailover(.whenNotSent) { client throws(WRaftClientError) in
                try await client.delete(key, prevValue: prevValue, prevIndex: prevIndex, timeoutMs: timeoutMs)
            }
            WriteOutput.print(outcome, format: endpoints.format())
        }
    }
}

/// The output of `put` and `delete`.
enum WriteOutput {
    static func print(_ outcome: WriteOutcome, format: OutputFormat) {
        switch format {
        case .simple:
            let what = outcome.deleted.map { $0 ? " deleted" : " did not exist" } ?? ""
            Swift.print("OK \(outcome.key)\(what) index=\(outcome.index) term=\(outcome.term)")
        case .table:
            var table = TextTable(outcome.deleted == nil ? ["KEY", "INDEX", "TERM"] : ["KEY", "DELETED", "INDEX", "TERM"])
            var row = [outcome.key, String(outcome.index), String(outcome.term)]
            if let deleted = outcome.deleted { row.insert(String(deleted), at: 1) }
            table.append(row)
            Swift.print(table.rendered)
        case .json:
            printJSON(outcome.encodedJSON())
        }
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List keys and values in key order.",
        discussion: """
            Prints one `key = value  (index N)` line per key (-o json: the node's \
            {"items": [...], "more", "next"}; with --all one document holding every item). A node \
            answers at most --limit keys (and fewer when the values are large); with --all the \
            command follows the node's continuation cursor page after page until every key with \
            the prefix is printed, every page at the revision of the first (or of --revision N).
            Examples:
              wraft list --prefix user/
              wraft list --all --limit 1000 -o json
            \(ClientExit.helpText)
            """)

    /// Bound on `--limit`.
    static let limitMax = 10_000
    /// Bound on the pages `--all` asks for (at `--limit` keys each), so a node that never says
    /// "done" cannot keep the command running for ever.
    static let pagesMax = 100_000

    @OptionGroup var endpoints: EndpointOptions
    @Option(help: "Only keys starting with this.") var prefix: String = ""
    @Option(help: "At most this many keys (per page with --all) (1...\(ListCommand.limitMax)).") var limit: Int = 100
    @Flag(help: "Follow the continuation cursor until every key is listed (at most \(ListCommand.pagesMax) pages).")
    var all = false
    @Flag(help: "Read this node's state as it is (may be stale).") var local = false
    @Option(help: "List the keys as they were at this revision (every page at the same one).") var revision: UInt64?

    func validate() throws {
        guard (1...Self.limitMax).contains(limit) else { throw ValidationError("--limit must be in 1...\(Self.limitMax)") }
        if let revision, revision > UInt64(Int64.max) { throw ValidationError("--revision must be in 0...\(Int64.max)") }
    }

    func run() async throws {
        try await runClientCommand {
            let timeoutMs = endpoints.serverTimeoutMs
            let (prefix, limit, all, revision) = (prefix, limit, all, revision)
            let consistency: ReadConsistency = local ? .local : .linearizable
            let printer = ListPrinter(format: endpoints.format())
            // Only until something is printed: the later pages continue the same node's cursor.
            let ((outcome, last), _) = try await endpoints.withFailover(
                .whenUnanswered, while: { printer.itemsWritten == 0 }
            ) { client throws(WRaftClientError) in
                try await Self.listPages(
                    client: client, prefix: prefix, limit: limit, all: all, consistency: consistency, revision: revision,
                    timeoutMs: timeoutMs, print: printer.print)
            }
            printer.finish(printed: outcome.printed, last: last, prefix: prefix)
            if outcome.end == .pageBound {
                throw ClientFailure(.failed, "stopped after \(Self.pagesMax) pages; more keys follow")
            }
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
    /// the node's error, reported rather than followed for ever. Returns the last page's
    /// `more` and `next` too.
    static func listPages(
        client: NodeClient, prefix: String, limit: Int, all: Bool, consistency: ReadConsistency, revision: UInt64? = nil,
        timeoutMs: Int, pagesMax: Int = ListCommand.pagesMax, print: (ListView.Item) -> Void
    ) async throws(WRaftClientError) -> (outcome: (printed: Int, end: End), last: ListView) {
        var cursor: String?
        // Every page at one revision: the one asked for, else the first page's.
        var revision = revision
        var printed = 0
        var last = ListView(items: [], more: false)
        for _ in 0..<pagesMax {
            let page = try await client.list(
                prefix: prefix, limit: limit, cursor: cursor, consistency: consistency, revision: revision,
                timeoutMs: timeoutMs)
            if revision == nil { revision = page.revision }
            for item in page.items { print(item) }
            printed += page.items.count
            last = ListView(items: [], more: page.more, next: page.next)
            guard page.more else { return ((printed, .done), last) }
            guard all else { return ((printed, .more), last) }
            guard let next = page.next, !next.isEmpty else { return ((printed, .noCursor), last) }
            guard next != cursor else { throw .badResponse("the node returned the same list cursor twice") }
            cursor = next
        }
        return ((printed, .pageBound), last)
    }
}

/// Prints list items as they arrive: lines, a table flushed every `tableRowsMax` rows, or one
/// JSON document written piece by piece (so `--all` never holds the whole listing).
final class ListPrinter {
    /// Rows a table holds before it is printed (and a new one begun).
    static let tableRowsMax = 10_000

    let format: OutputFormat
    private var table = TextTable(["KEY", "VALUE", "INDEX"])
    /// Items printed so far.
    private(set) var itemsWritten = 0

    init(format: OutputFormat) {
        self.format = format
    }

    func print(_ item: ListView.Item) {
        switch format {
        case .simple:
            let value = item.encoding == ListView.Item.base64 ? "\(item.value) (base64)" : item.value
            Swift.print("\(item.key) = \(value)  (index \(item.index))")
        case .table:
            let value = item.encoding == ListView.Item.base64 ? "\(item.value) (base64)" : item.value
            table.append([item.key, value, String(item.index)])
            if table.rows.count >= Self.tableRowsMax { flushTable() }
        case .json:
            var bytes = Array((itemsWritten == 0 ? #"{"items":["# : ",").utf8)
            let value = item.valueBytes ?? Array(item.value.utf8)
            bytes += ListView.Item.encodedJSON(key: item.key, value: value, index: item.index).readableBytesView
            FileHandle.standardOutput.write(Data(bytes))
        }
        itemsWritten += 1
    }

    func finish(printed: Int, last: ListView, prefix: String) {
        switch format {
        case .simple, .table:
            if format == .table { flushTable() }
            if printed == 0 { Swift.print("(no keys\(prefix.isEmpty ? "" : " starting with '\(prefix)'"))") }
            if last.more {
                Swift.print(last.next == nil ? "(more keys follow, but this node gives no continuation cursor: raise --limit)" : "(more keys follow: use --all, or raise --limit)")
            }
        case .json:
            var writer = JSONWriter()
            writer.key(CodingKeysOfList.more)
            writer.bool(last.more)
            if let next = last.next, last.more { writer.field(CodingKeysOfList.next, next) }
            var bytes = Array((itemsWritten == 0 ? #"{"items":[],"# : "],").utf8)
            bytes += writer.buffer.readableBytesView
            bytes += Array("}\n".utf8)
            FileHandle.standardOutput.write(Data(bytes))
        }
    }

    private func flushTable() {
        guard !table.rows.isEmpty else { return }
        Swift.print(table.rendered)
        table.rows.removeAll()
    }

    private enum CodingKeysOfList: String, CodingKey { case more, next }
}

struct CompactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Forget the history at and below a revision.",
        discussion: """
            Reads at a compacted revision get 410 compacted (exit 8); the current values stay. \
            Goes through consensus like a write.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The revision to compact at.") var revision: UInt64

    func validate() throws {
        guard revision <= UInt64(Int64.max) else { throw ValidationError("the revision must be in 0...\(Int64.max)") }
    }

    func run() async throws {
        try await runClientCommand {
            let (revision, timeoutMs) = (revision, endpoints.serverTimeoutMs)
            let (compacted, _) = try await endpoints.withFailover(.whenNotSent) { client throws(WRaftClientError) in
                try await client.compact(revision: revision, timeoutMs: timeoutMs)
            }
            switch endpoints.format() {
            case .simple: print("compacted at revision \(compacted)")
            case .table:
                var table = TextTable(["COMPACTED"])
                table.append([String(compacted)])
                print(table.rendered)
            case .json: printJSON(CompactBody(revision: compacted).encodedJSON())
            }
        }
    }
}
