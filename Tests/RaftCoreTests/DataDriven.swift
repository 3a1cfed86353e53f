import Foundation
import RaftCore
import Testing

/// Core scenarios as text files (Tests/RaftCoreTests/testdata/*.txt), in the style of
/// etcd-io/raft's testdata: each case is a command, a `----` line, and the output the command
/// must print, ended by a blank line. The runner drives a `LockStep` cluster, so a reader sees
/// the whole exchange (every message, every commit), not a few chosen assertions.
///
/// A mismatch is reported with a line diff. `WRAFT_REWRITE_TESTDATA=1` writes the actual output
/// back into the file instead (review the change with `git diff`).
///
/// Commands:
/// - `cluster voters=1,2,3` starts founders (election timeout 10 ticks, jitter 5, heartbeat 2).
/// - `campaign ID` makes ID start an election (its Ready is not processed yet).
/// - `tick ID [N]` ticks ID N times (default 1).
/// - `propose ID TEXT` proposes TEXT at ID.
/// - `stabilize` processes every Ready and delivers every message until quiet, printing each
///   message as it is delivered (or `dropped`, to or from an isolated node) and each command
///   entry as it is applied.
/// - `drop to=ID` / `drop from=ID` drops queued messages.
/// - `isolate ID` / `heal` cuts ID off from every peer (its messages are dropped), or stops that.
/// - `status` prints every node's role, term, leader and commit index.
struct DataDrivenRunner {
    private var cluster: LockStep?
    private var isolated: Set<NodeID> = []

    /// Runs one command and returns what it printed.
    mutating func run(_ command: String, _ arguments: [String]) throws -> String {
        if command == "cluster" {
            let voters = try Self.value("voters", in: arguments).split(separator: ",").map { try Self.number(String($0)) }
            cluster = try LockStep(voters: voters)
            return "ok"
        }
        guard var cluster else { throw DataDrivenError("`cluster` must come first") }
        defer { self.cluster = cluster }
        switch command {
        case "campaign":
            cluster.nodes[try Self.node(arguments, 0)]?.campaign()
            return "ok"
        case "tick":
            let times = arguments.count > 1 ? Int(try Self.number(arguments[1])) : 1
            cluster.tick(try Self.node(arguments, 0), times: times)
            return "ok"
        case "propose":
            guard arguments.count == 2 else { throw DataDrivenError("propose ID TEXT") }
            do {
                try cluster.propose(try Self.node(arguments, 0), arguments[1])
                return "ok"
            } catch {
                return "refused: \(error)"
            }
        case "stabilize":
            return stabilize(&cluster)
        case "drop":
            let (key, id) = try Self.keyedNode(arguments)
            cluster.drop { key == "to" ? $0.to == id : $0.from == id }
            return "ok"
        case "isolate":
            isolated.insert(try Self.node(arguments, 0))
            return "ok"
        case "heal":
            isolated = []
            return "ok"
        case "status":
            return cluster.ids.compactMap { cluster.status($0) }.map(Self.format).joined(separator: "\n")
        default:
            throw DataDrivenError("unknown command \(command)")
        }
    }

    private func stabilize(_ cluster: inout LockStep) -> String {
        var lines: [String] = []
        for _ in 0..<1_000 {
            for id in cluster.ids {
                while let ready = cluster.process(id) {
                    for entry in ready.committedEntries where entry.kind == .command {
                        lines.append("\(id.rawValue) applies \(entry.index): \(String(decoding: entry.data, as: UTF8.self))")
                    }
                }
            }
            guard !cluster.queue.isEmpty else { break }
            let cut = isolated
            for message in cluster.queue {
                let isCut = cut.contains(message.from) || cut.contains(message.to)
                lines.append((isCut ? "dropped " : "") + Self.format(message))
            }
            cluster.drop { cut.contains($0.from) || cut.contains($0.to) }
            cluster.deliver()
        }
        return lines.isEmpty ? "ok" : lines.joined(separator: "\n")
    }

    static func format(_ message: Message) -> String {
        let head = "\(message.from.rawValue)->\(message.to.rawValue) term=\(message.term) "
        switch message.payload {
        case .voteRequest(let request):
            return head + (request.isPreVote ? "preVote" : "vote") + " last=\(request.lastLogIndex)@\(request.lastLogTerm)"
        case .voteResponse(let response):
            return head + (response.isPreVote ? "preVote" : "vote") + (response.isGranted ? " granted" : " refused")
        case .append(let request):
            let entries = request.entries.map { "\($0.index)@\($0.term)" }.joined(separator: ",")
            return head + "append prev=\(request.previousIndex)@\(request.previousTerm) entries=[\(entries)] commit=\(request.commit)"
        case .appendResponse(let response):
            return head + "appendResponse index=\(response.index)"
                + (response.isRejected ? " rejected hint=\(response.hintIndex)@\(response.hintTerm)" : "")
        case .heartbeat(let request):
            return head + "heartbeat commit=\(request.commit)"
        case .heartbeatResponse:
            return head + "heartbeatResponse"
        default:
            return head + "\(message.payload)"
        }
    }

    static func format(_ status: Status) -> String {
        "\(status.id.rawValue) \(status.role) term=\(status.term) leader=\(status.leader.map { String($0.rawValue) } ?? "none") commit=\(status.commitIndex)"
    }

    private static func number(_ text: String) throws -> UInt64 {
        guard let value = UInt64(text) else { throw DataDrivenError("\(text) is not a number") }
        return value
    }

    private static func node(_ arguments: [String], _ position: Int) throws -> NodeID {
        guard position < arguments.count else { throw DataDrivenError("a node id is missing") }
        return NodeID(try number(arguments[position]))
    }

    private static func value(_ key: String, in arguments: [String]) throws -> String {
        guard let argument = arguments.first(where: { $0.hasPrefix(key + "=") }) else { throw DataDrivenError("\(key)= is missing") }
        return String(argument.dropFirst(key.count + 1))
    }

    private static func keyedNode(_ arguments: [String]) throws -> (String, NodeID) {
        for key in ["to", "from"] {
            if let text = try? value(key, in: arguments) { return (key, NodeID(try number(text))) }
        }
        throw DataDrivenError("to= or from= is missing")
    }
}

struct DataDrivenError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One case of a data file: its command line and the output written under it.
struct DataDrivenCase {
    var command: String
    var expected: String
}

enum DataDrivenFile {
    /// The cases of a file's text, and the comment and blank lines between them kept verbatim
    /// (as `prefix` of the case that follows) so a rewrite changes outputs only.
    static func parse(_ text: String) throws -> [(prefix: [String], testCase: DataDrivenCase)] {
        var result: [(prefix: [String], testCase: DataDrivenCase)] = []
        var prefix: [String] = []
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        while let line = lines.popFirst() {
            if line.isEmpty || line.hasPrefix("#") {
                prefix.append(line)
                continue
            }
            guard lines.popFirst() == "----" else { throw DataDrivenError("no ---- after \(line)") }
            var output: [String] = []
            while let next = lines.first, !next.isEmpty {
                output.append(next)
                lines.removeFirst()
            }
            result.append((prefix, DataDrivenCase(command: line, expected: output.joined(separator: "\n"))))
            prefix = []
        }
        return result
    }
}

@Suite struct DataDrivenScenarioTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test(arguments: files)
    func scenario(_ name: String) throws {
        let url = Self.directory.appendingPathComponent(name)
        let cases = try DataDrivenFile.parse(try String(contentsOf: url, encoding: .utf8))
        #expect(!cases.isEmpty, "\(name) has no cases")
        var runner = DataDrivenRunner()
        var rewritten: [String] = []
        for (prefix, testCase) in cases {
            let words = testCase.command.split(separator: " ").map(String.init)
            let actual: String
            do {
                actual = try runner.run(words[0], Array(words.dropFirst()))
            } catch {
                actual = "error: \(error)"
            }
            rewritten.append(contentsOf: prefix + [testCase.command, "----", actual])
            if actual != testCase.expected && ProcessInfo.processInfo.environment["WRAFT_REWRITE_TESTDATA"] != "1" {
                Issue.record("\(name): `\(testCase.command)` printed otherwise:\n\(Self.diff(testCase.expected, actual))")
            }
        }
        if ProcessInfo.processInfo.environment["WRAFT_REWRITE_TESTDATA"] == "1" {
            try (rewritten.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        }
    }

    /// A line diff: `-` expected only, `+` actual only, ` ` both (longest common subsequence).
    static func diff(_ expected: String, _ actual: String) -> String {
        let old = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let new = actual.split(separator: "\n", omittingEmptySubsequences: false)
        var common = Array(repeating: Array(repeating: 0, count: new.count + 1), count: old.count + 1)
        for i in stride(from: old.count - 1, through: 0, by: -1) {
            for j in stride(from: new.count - 1, through: 0, by: -1) {
                common[i][j] = old[i] == new[j] ? common[i + 1][j + 1] + 1 : max(common[i + 1][j], common[i][j + 1])
            }
        }
        var lines: [String] = []
        var (i, j) = (0, 0)
        while i < old.count || j < new.count {
            if i < old.count, j < new.count, old[i] == new[j] {
                lines.append("  " + old[i]); i += 1; j += 1
            } else if j < new.count, i == old.count || common[i][j + 1] >= common[i + 1][j] {
                lines.append("+ " + new[j]); j += 1
            } else {
                lines.append("- " + old[i]); i += 1
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test func aDiffShowsWhatChanged() {
        #expect(Self.diff("a\nb\nc", "a\nx\nc") == "  a\n+ x\n- b\n  c")
    }

    @Test func parsingKeepsCommentsAndSplitsCases() throws {
        let cases = try DataDrivenFile.parse("# one\nstatus\n----\nx\ny\n\ntick 1\n----\nok\n")
        #expect(cases.map(\.testCase.command) == ["status", "tick 1"])
        #expect(cases.map(\.testCase.expected) == ["x\ny", "ok"])
        #expect(cases[0].prefix == ["# one"])
        #expect(throws: DataDrivenError.self) { try DataDrivenFile.parse("status\nok\n") }
    }
}
