import ArgumentParser
import Foundation
import NIOCore
import WRaftAPI
import WRaftClient

/// `wraft txn`: a transaction as `POST /txn` takes it, or in etcdctl's text form.
struct TxnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn",
        abstract: "Run a transaction: compares, then the success or the failure operations, atomically.",
        discussion: """
            The transaction is read from standard input (the default, or `-`), from a file \
            (`@PATH`), or given as the argument. It is either the JSON of POST /txn:
              {"compare": [{"key": "k", "target": "value", "op": "=", "value": "v"}],
               "success": [{"op": "put", "key": "k", "value": "w"}],
               "failure": [{"op": "range", "key": "k"}]}
            (targets value, version, createRevision, modRevision, lease; ops =, !=, <, >; \
            operations put, delete, range with end, prefix, limit, lease), or etcdctl's text form: \
            compares one a line, a blank line, the success operations, a blank line, the failure \
            operations:
              value("k") = "v"
              mod("k") > "0"

              put k "w"
              del --prefix tmp/

              get k
            (compares: value, version, create, mod, lease; operations: put KEY VALUE, \
            get [--prefix] KEY [END], del [--prefix] KEY [END]; "quoted" words may hold spaces, \
            \\" and \\\\).
            Prints SUCCESS or FAILURE, then each operation's answer (-o json: the node's \
            {"succeeded","revision","responses"}). A failed compare is not an error (exit 0); \
            input that is neither form exits 65, a transaction the node refuses exits 8.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The transaction: `-` (standard input, the default), `@PATH`, or the text itself.")
    var input: String = "-"

    func run() async throws {
        try await runClientCommand {
            let bytes = try ValueInput(argument: input, literal: false).read()
            let body = try TxnInput.parse(bytes)
            let timeoutMs = endpoints.serverTimeoutMs
            // A transaction may write: it moves on only when no node can have seen it.
            let (answer, _) = try await endpoints.withFailover(.whenNotSent) { client throws(WRaftClientError) in
                try await client.txn(body, timeoutMs: timeoutMs)
            }
            Self.print(answer, format: endpoints.format())
        }
    }

    static func print(_ answer: TxnView, format: OutputFormat) {
        switch format {
        case .simple:
            Swift.print(answer.succeeded ? "SUCCESS" : "FAILURE")
            for response in answer.responses ?? [] {
                Swift.print("")
                switch response.op {
                case "put": Swift.print("OK")
                case "delete": Swift.print("\(response.deleted ?? 0)")
                default:
                    for item in response.items ?? [] {
                        Swift.print(item.key)
                        Swift.print(item.encoding == ListView.Item.base64 ? "\(item.value) (base64)" : item.value)
                    }
                    if response.more == true { Swift.print("(more keys follow)") }
                }
            }
        case .table:
            var table = TextTable(["RESULT", "OP", "KEY", "VALUE", "DELETED", "REVISION"])
            for response in answer.responses ?? [] {
                let result = answer.succeeded ? "success" : "failure"
                if let items = response.items, !items.isEmpty {
                    for item in items {
                        table.append([result, response.op, item.key, item.value, "-", String(item.modRevision)])
                    }
                } else {
                    table.append([result, response.op, "-", "-", response.deleted.map(String.init) ?? "-", String(answer.revision)])
                }
            }
            if table.rows.isEmpty { table.append([answer.succeeded ? "success" : "failure", "-", "-", "-", "-", String(answer.revision)]) }
            Swift.print(table.rendered)
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(answer) { printJSON(ByteBuffer(bytes: data)) }
        }
    }
}

/// A transaction from the command's input: `POST /txn`'s JSON, or etcdctl's text form.
enum TxnInput {
    /// The most lines the text form takes (the node takes at most 128 compares and 128
    /// operations a list; the rest is blank lines and slack).
    static let linesMax = 1_024

    /// The transaction, or a `badInput` (65) failure saying what is wrong and where.
    static func parse(_ bytes: [UInt8]) throws(ClientFailure) -> TxnBody {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ClientFailure(.badInput, "the transaction is not UTF-8 text")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw ClientFailure(.badInput, "no transaction given (JSON, or etcdctl's text form; `wraft txn --help`)")
        }
        if trimmed.hasPrefix("{") {
            do {
                return try JSONDecoder().decode(TxnBody.self, from: Data(trimmed.utf8))
            } catch {
                throw ClientFailure(.badInput, "the transaction is not POST /txn's JSON: \(Self.describe(error))")
            }
        }
        return try parseText(text)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): return context.debugDescription
        case DecodingError.keyNotFound(let key, _): return "missing \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(path): \(context.debugDescription)"
        default: return "\(error)"
        }
    }

    /// etcdctl's text form: compares, a blank line, success operations, a blank line, failure
    /// operations.
    static func parseText(_ text: String) throws(ClientFailure) -> TxnBody {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard lines.count <= linesMax else { throw ClientFailure(.badInput, "more than \(linesMax) lines") }
        // Each blank line ends a section (as etcdctl's prompts do), so a transaction without
        // compares starts with a blank line; blank lines after the failure section are ignored.
        var sections: [[(number: Int, line: String)]] = [[]]
        for (offset, line) in lines.enumerated() {
            if line.isEmpty {
                sections.append([])
            } else {
                guard sections.count <= 3 else {
                    throw ClientFailure(.badInput, "line \(offset + 1): more than three sections (compares, success, failure)")
                }
                sections[sections.count - 1].append((offset + 1, line))
            }
        }
        var body = TxnBody(compare: [], success: [], failure: [])
        for (number, line) in sections[0] { body.compare?.append(try compare(line, number: number)) }
        if sections.count > 1 { for (number, line) in sections[1] { body.success?.append(try operation(line, number: number)) } }
        if sections.count > 2 { for (number, line) in sections[2] { body.failure?.append(try operation(line, number: number)) } }
        return body
    }

    /// `value("k") = "v"`, `mod("k") > "3"`, `create("k") = "0"`, `version("k") != "1"`,
    /// `lease("k") = "7"`.
    static func compare(_ line: String, number: Int) throws(ClientFailure) -> TxnBody.Compare {
        func bad(_ why: String) -> ClientFailure {
            ClientFailure(.badInput, "line \(number): \(why): \(line.prefix(80))")
        }
        guard let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")"), open < close else {
            throw bad("a compare is TARGET(\"KEY\") OP \"VALUE\"")
        }
        let targets = ["value": "value", "version": "version", "create": "createRevision", "mod": "modRevision", "lease": "lease"]
        let name = line[..<open].trimmingCharacters(in: .whitespaces).lowercased()
        guard let target = targets[name] else { throw bad("a compare's target is value, version, create, mod or lease") }
        let keyWords = try words(String(line[line.index(after: open)..<close]), number: number)
        guard keyWords.count == 1 else { throw bad("a compare names one key") }
        let rest = try words(String(line[line.index(after: close)...]), number: number)
        guard rest.count == 2, ["=", "!=", "<", ">"].contains(rest[0]) else { throw bad("a compare's operator is =, !=, < or >, then a value") }
        if target == "value" { return TxnBody.Compare(key: keyWords[0], target: target, op: rest[0], value: rest[1]) }
        guard let value = Int64(rest[1]) else { throw bad("a \(name) compare takes a number") }
        return TxnBody.Compare(key: keyWords[0], target: target, op: rest[0], number: value)
    }

    /// `put KEY VALUE`, `get [--prefix] KEY [END]`, `del [--prefix] KEY [END]`.
    static func operation(_ line: String, number: Int) throws(ClientFailure) -> TxnBody.Operation {
        func bad(_ why: String) -> ClientFailure {
            ClientFailure(.badInput, "line \(number): \(why): \(line.prefix(80))")
        }
        var parts = try words(line, number: number)
        guard !parts.isEmpty else { throw bad("an empty operation") }
        let verb = parts.removeFirst().lowercased()
        let isPrefix = parts.first == "--prefix"
        if isPrefix { parts.removeFirst() }
        switch verb {
        case "put":
            guard !isPrefix, parts.count == 2 else { throw bad("put takes KEY VALUE") }
            return TxnBody.Operation(op: "put", key: parts[0], value: parts[1])
        case "get", "range", "del", "delete":
            guard (1...2).contains(parts.count), !(isPrefix && parts.count == 2) else {
                throw bad("\(verb) takes KEY [END], or --prefix KEY")
            }
            return TxnBody.Operation(
                op: verb.hasPrefix("d") ? "delete" : "range", key: parts[0], end: parts.count == 2 ? parts[1] : nil,
                prefix: isPrefix ? true : nil)
        default:
            throw bad("an operation is put, get or del")
        }
    }

    /// The words of a line: separated by blanks; a "quoted" word may hold blanks, \" and \\.
    static func words(_ text: String, number: Int) throws(ClientFailure) -> [String] {
        var words: [String] = []
        var current = ""
        var isInWord = false
        var isQuoted = false
        var isEscaped = false
        for character in text {
            if isEscaped {
                current.append(character)
                isEscaped = false
            } else if isQuoted {
                switch character {
                case "\\": isEscaped = true
                case "\"": isQuoted = false
                default: current.append(character)
                }
            } else if character == "\"" {
                isQuoted = true
                isInWord = true
            } else if character == " " || character == "\t" {
                if isInWord { words.append(current) }
                current = ""
                isInWord = false
            } else {
                current.append(character)
                isInWord = true
            }
        }
        guard !isQuoted else { throw ClientFailure(.badInput, "line \(number): a quote is not closed: \(text.prefix(80))") }
        if isInWord { words.append(current) }
        return words
    }
}
