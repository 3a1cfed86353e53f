import Foundation
import RaftCore
import Testing

/// Core scenarios as text files (Tests/RaftCoreTests/testdata/*.txt), in the style of
/// etcd-io/raft's testdata: each case is a command, a `----` line, and the output the command
/// must print, ended by a blank line. The runner drives a `LockStep` cluster, so a reader sees
/// the whole exchange (every message, every commit), not a few chosen assertions.
///
/// A mismatch is reported with a line diff. `WRAFT_REWRITE_TESTDATA=1` writes the actual output
/// back into the file instead (review the change with `git diff`); a new case can be written
/// with an empty output under its `----` and filled in that way.
///
/// The files are input: a bad line (unknown command, a number that is not one or out of range,
/// a node that is not in the cluster) prints `error: ...`, which fails the case like any other
/// difference.
///
/// Every node "persists" a Ready at once: the runner keeps each node's durable state (hard
/// state, snapshot, entries) as a disk would, and `crash`/`restart` go through it.
///
/// Commands (IDS is one node id or several, comma-separated):
/// - `cluster voters=1,2,3 [learners=4] [prevote=off] [checkquorum=off] [msgbytes=N]` starts
///   founders (election timeout 10 ticks, jitter 5, heartbeat 2; pre-vote and check-quorum on;
///   `msgbytes=1` makes every append carry one entry).
/// - `add-node ID` starts an empty node that is not yet a member (it waits to be contacted).
/// - `campaign ID` makes ID start an election (its Ready is not processed yet).
/// - `tick IDS [N]` ticks each of IDS N times (default 1): all N ticks of one node, then the
///   next's, and no message moves meanwhile (a leader ticked past a heartbeat interval queues a
///   heartbeat each time; one ticked two election timeouts without answers fails check-quorum).
/// - `propose ID TEXT [count=N]` proposes TEXT at ID, or TEXT1...TEXTN in one batch.
/// - `transfer ID TO` asks leader ID to hand leadership to TO.
/// - `add-learner ID at=LEADER`, `promote ID at=LEADER`, `remove ID at=LEADER` propose a
///   single-server membership change at LEADER.
/// - `read ID N` asks ID for a linearizable read with request id N.
/// - `compact ID INDEX` takes a snapshot of ID at its applied INDEX and drops the entries it
///   covers (what a lagging follower is then sent).
/// - `stabilize` processes every Ready and delivers every message until quiet, printing each
///   message as it is delivered (or `dropped`, over a cut link or to a crashed node), each
///   entry as it is applied, each snapshot as it is installed and each read as it is answered.
/// - `process [IDS]` processes the Readys of IDS (default all) without delivering, printing what
///   `stabilize` would print of them; `deliver [from=ID] [to=ID]` delivers (and prints) the
///   queued messages that match, in order, without processing; `queue` prints what is queued.
/// - `drop to=ID` / `drop from=ID` drops queued messages.
/// - `isolate ID` cuts ID off from every peer, `partition IDS IDS` cuts every link between the
///   two groups, `heal` restores every link.
/// - `crash ID` stops ID (what it has not persisted is lost; messages to or from it still
///   queued are dropped when delivered),
///   `restart ID` starts it again from its durable state.
/// - `status` prints every node's role, term, leader and commit index (and the transferee of a
///   transfer under way); `members` prints the membership each node knows; `applied` prints the
///   commands each node applied, in order; `log ID` prints ID's durable state.
struct DataDrivenRunner {
    private var cluster: LockStep?
    private var configure: @Sendable (inout Config) -> Void = { _ in }
    private var isolated: Set<NodeID> = []
    private var cutLinks: Set<[NodeID]> = []
    private var durable: [NodeID: PersistentState] = [:]
    private var crashed: Set<NodeID> = []

    /// Bounds on the numbers a line may carry (the files are input).
    static let nodeIDMax: UInt64 = 1_000
    static let ticksMax: UInt64 = 10_000
    static let batchMax: UInt64 = 1_000

    /// Runs one command and returns what it printed.
    mutating func run(_ command: String, _ arguments: [String]) throws -> String {
        if command == "cluster" {
            guard cluster == nil else { throw DataDrivenError("`cluster` comes once") }
            let voters = try Self.ids(try Self.value("voters", in: arguments))
            let learners = try Self.optionalValue("learners", in: arguments).map(Self.ids) ?? []
            let preVote = try Self.flag("prevote", in: arguments)
            let checkQuorum = try Self.flag("checkquorum", in: arguments)
            let messageBytesMax = try Self.optionalValue("msgbytes", in: arguments).map { Int(try Self.number($0, in: 1...(1 << 20))) }
            configure = { config in
                config.isPreVoteEnabled = preVote
                config.isCheckQuorumEnabled = checkQuorum
                if let messageBytesMax { config.messageBytesMax = messageBytesMax }
            }
            let lockStep = try LockStep(voters: voters.map(\.rawValue), learners: learners.map(\.rawValue), configure: configure)
            for id in lockStep.ids {
                durable[id] = RaftNode.bootstrapState(
                    membership: Membership(voters: Set(voters), learners: Set(learners)), context: [])
            }
            cluster = lockStep
            return "ok"
        }
        guard var cluster else { throw DataDrivenError("`cluster` must come first") }
        defer { self.cluster = cluster }
        switch command {
        case "add-node":
            guard arguments.count == 1 else { throw DataDrivenError("add-node ID") }
            let id = NodeID(try Self.number(arguments[0], in: 1...Self.nodeIDMax))
            guard durable[id] == nil else { throw DataDrivenError("node \(id.rawValue) is already in the cluster") }
            durable[id] = PersistentState()
            try start(id, in: &cluster)
            return "ok"
        case "campaign":
            let id = try running(try node(arguments, 0))
            cluster.nodes[id]?.campaign()
            return "ok"
        case "tick":
            guard (1...2).contains(arguments.count) else { throw DataDrivenError("tick IDS [N]") }
            let ids = try nodes(arguments[0]).map(running)
            let times = arguments.count > 1 ? try Self.number(arguments[1], in: 1...Self.ticksMax) : 1
            for id in ids { cluster.tick(id, times: Int(times)) }
            return "ok"
        case "propose":
            guard (2...3).contains(arguments.count) else { throw DataDrivenError("propose ID TEXT [count=N]") }
            let id = try running(try node(arguments, 0))
            let count = try Self.optionalValue("count", in: arguments).map { try Self.number($0, in: 1...Self.batchMax) }
            let commands = count.map { count in (1...count).map { Array("\(arguments[1])\($0)".utf8) } } ?? [Array(arguments[1].utf8)]
            return Self.outcome { () throws(ProposalError) in try cluster.nodes[id]?.propose(commands: commands) }
        case "transfer":
            guard arguments.count == 2 else { throw DataDrivenError("transfer ID TO") }
            let id = try running(try node(arguments, 0))
            let target = try node(arguments, 1)
            return Self.outcome { () throws(ProposalError) in try cluster.nodes[id]?.transferLeadership(to: target) }
        case "add-learner", "promote", "remove":
            guard arguments.count == 2 else { throw DataDrivenError("\(command) ID at=LEADER") }
            let member = try node(arguments, 0)
            let leader = try running(try node([try Self.value("at", in: arguments)], 0))
            let kind: ConfigChange.Kind = command == "add-learner" ? .addLearner : command == "promote" ? .addVoter : .remove
            return Self.outcome { () throws(ProposalError) in
                try cluster.nodes[leader]?.proposeMembershipChange(ConfigChange(kind, member), context: [])
            }
        case "read":
            guard arguments.count == 2 else { throw DataDrivenError("read ID N") }
            let id = try running(try node(arguments, 0))
            let request = ReadRequestID(try Self.number(arguments[1], in: 1...UInt64.max))
            return Self.outcome { () throws(ProposalError) in try cluster.nodes[id]?.requestRead(request) }
        case "compact":
            guard arguments.count == 2 else { throw DataDrivenError("compact ID INDEX") }
            let id = try running(try node(arguments, 0))
            let index = LogIndex(try Self.number(arguments[1], in: 1...UInt64.max))
            guard let metadata = cluster.nodes[id]?.snapshotMetadata(at: index) else {
                throw DataDrivenError("node \(id.rawValue) cannot snapshot at \(index): not applied, or not in its log")
            }
            cluster.nodes[id]?.compact(to: metadata, retainingEntries: 0)
            durable[id]?.snapshot = metadata
            durable[id]?.entries.removeAll { $0.index <= index }
            return "ok"
        case "stabilize":
            guard arguments.isEmpty else { throw DataDrivenError("stabilize takes no arguments") }
            return stabilize(&cluster)
        case "process":
            guard arguments.count <= 1 else { throw DataDrivenError("process [IDS]") }
            let ids = try arguments.first.map { try nodes($0) } ?? cluster.ids
            var lines: [String] = []
            for id in ids { lines += process(id, in: &cluster) }
            return lines.isEmpty ? "ok" : lines.joined(separator: "\n")
        case "deliver":
            let from = try Self.optionalValue("from", in: arguments).map { try node([$0], 0) }
            let to = try Self.optionalValue("to", in: arguments).map { try node([$0], 0) }
            guard arguments.count == [from, to].compactMap({ $0 }).count else { throw DataDrivenError("deliver [from=ID] [to=ID]") }
            let lines = deliver(&cluster) { (from == nil || $0.from == from) && (to == nil || $0.to == to) }
            return lines.isEmpty ? "nothing to deliver" : lines.joined(separator: "\n")
        case "queue":
            return cluster.queue.isEmpty ? "empty" : cluster.queue.map(Self.format).joined(separator: "\n")
        case "drop":
            let (key, id) = try keyedNode(arguments)
            cluster.drop { key == "to" ? $0.to == id : $0.from == id }
            return "ok"
        case "isolate":
            isolated.insert(try node(arguments, 0))
            return "ok"
        case "partition":
            guard arguments.count == 2 else { throw DataDrivenError("partition IDS IDS") }
            let (left, right) = (try nodes(arguments[0]), try nodes(arguments[1]))
            guard Set(left).isDisjoint(with: right) else { throw DataDrivenError("the two sides of a partition share a node") }
            for a in left { for b in right { cutLinks.insert([a, b].sorted()) } }
            return "ok"
        case "heal":
            isolated = []
            cutLinks = []
            return "ok"
        case "crash":
            let id = try running(try node(arguments, 0))
            cluster.nodes[id] = nil
            crashed.insert(id)
            return "ok"
        case "restart":
            let id = try node(arguments, 0)
            guard crashed.contains(id) else { throw DataDrivenError("node \(id.rawValue) is running") }
            crashed.remove(id)
            try start(id, in: &cluster)
            return "ok"
        case "status":
            return durable.keys.sorted().map { id in
                cluster.status(id).map(Self.format) ?? "\(id.rawValue) down"
            }.joined(separator: "\n")
        case "members":
            return durable.keys.sorted().map { id in
                cluster.status(id).map { "\(id.rawValue) " + Self.format($0.membership) } ?? "\(id.rawValue) down"
            }.joined(separator: "\n")
        case "applied":
            return durable.keys.sorted().map { id in
                let commands = (cluster.applied[id] ?? []).filter { $0.kind == .command }.map { String(decoding: $0.data, as: UTF8.self) }
                return "\(id.rawValue):" + commands.map { " " + $0 }.joined()
            }.joined(separator: "\n")
        case "log":
            let id = try node(arguments, 0)
            return Self.format(durable[id] ?? PersistentState())
        default:
            throw DataDrivenError("unknown command \(command)")
        }
    }

    /// Starts `id` from its durable state (founder restarts, added nodes).
    private mutating func start(_ id: NodeID, in cluster: inout LockStep) throws {
        cluster.nodes[id] = try RaftNode(config: LockStep.config(id, configure), state: durable[id] ?? PersistentState())
        cluster.applied[id] = []
    }

    /// Takes and "persists" every Ready of `id`; returns the lines they print.
    private mutating func process(_ id: NodeID, in cluster: inout LockStep) -> [String] {
        var lines: [String] = []
        while let ready = cluster.process(id) {
            var state = durable[id] ?? PersistentState()
            if let hardState = ready.hardState { state.hardState = hardState }
            if let snapshot = ready.snapshot {
                state.snapshot = snapshot
                state.entries.removeAll { $0.index <= snapshot.index }
                lines.append("\(id.rawValue) installs snapshot \(snapshot.index)@\(snapshot.term) \(Self.format(snapshot.membership))")
            }
            if let first = ready.entries.first {
                state.entries.removeAll { $0.index >= first.index }
                state.entries += ready.entries
            }
            durable[id] = state
            for entry in ready.committedEntries {
                switch entry.kind {
                case .command:
                    lines.append("\(id.rawValue) applies \(entry.index): \(String(decoding: entry.data, as: UTF8.self))")
                case .membership:
                    let change = try? MembershipChange(decoding: entry.data)
                    lines.append("\(id.rawValue) applies \(entry.index): membership \(change.map { Self.format($0.membership) } ?? "undecodable")")
                case .noop:
                    break
                }
            }
            for read in ready.readStates {
                lines.append("\(id.rawValue) reads #\(read.id) at \(read.index)")
            }
        }
        return lines
    }

    private func isCut(_ message: Message) -> Bool {
        isolated.contains(message.from) || isolated.contains(message.to)
            || cutLinks.contains([message.from, message.to].sorted())
            || crashed.contains(message.to) || crashed.contains(message.from)
    }

    /// Delivers the queued messages `predicate` picks, in order; each prints (or is dropped).
    private func deliver(_ cluster: inout LockStep, where predicate: (Message) -> Bool) -> [String] {
        let picked = cluster.queue.filter(predicate)
        let lines = picked.map { (isCut($0) ? "dropped " : "") + Self.format($0) }
        cluster.drop { predicate($0) && isCut($0) }
        cluster.deliver(where: predicate)
        return lines
    }

    private mutating func stabilize(_ cluster: inout LockStep) -> String {
        var lines: [String] = []
        for _ in 0..<1_000 {
            for id in cluster.ids { lines += process(id, in: &cluster) }
            guard !cluster.queue.isEmpty else { break }
            lines += deliver(&cluster) { _ in true }
        }
        return lines.isEmpty ? "ok" : lines.joined(separator: "\n")
    }

    /// What a proposal-like call printed: `ok`, or why it was refused.
    private static func outcome(_ body: () throws(ProposalError) -> Void) -> String {
        do {
            try body()
            return "ok"
        } catch {
            return "refused: \(error)"
        }
    }

    static func format(_ message: Message) -> String {
        let head = "\(message.from.rawValue)->\(message.to.rawValue) term=\(message.term) "
        switch message.payload {
        case .voteRequest(let request):
            return head + (request.isPreVote ? "preVote" : "vote") + " last=\(request.lastLogIndex)@\(request.lastLogTerm)"
                + (request.isLeadershipTransfer ? " transfer" : "")
        case .voteResponse(let response):
            return head + (response.isPreVote ? "preVote" : "vote") + (response.isGranted ? " granted" : " refused")
        case .append(let request):
            let entries = request.entries.map { "\($0.index)@\($0.term)" }.joined(separator: ",")
            return head + "append prev=\(request.previousIndex)@\(request.previousTerm) entries=[\(entries)] commit=\(request.commit)"
        case .appendResponse(let response):
            return head + "appendResponse index=\(response.index)"
                + (response.isRejected ? " rejected hint=\(response.hintIndex)@\(response.hintTerm)" : "")
        case .heartbeat(let request):
            return head + "heartbeat commit=\(request.commit)" + (request.readRound == 0 ? "" : " round=\(request.readRound)")
        case .heartbeatResponse(let response):
            return head + "heartbeatResponse" + (response.readRound == 0 ? "" : " round=\(response.readRound)")
        case .installSnapshot(let snapshot):
            return head + "snapshot \(snapshot.index)@\(snapshot.term) \(format(snapshot.membership))"
        case .timeoutNow:
            return head + "timeoutNow"
        case .propose(let entries):
            return head + "propose " + entries.map { $0.kind == .command ? String(decoding: $0.data, as: UTF8.self) : "\($0.kind)" }.joined(separator: ",")
        case .readIndexRequest(let id):
            return head + "readIndex #\(id)"
        case .readIndexResponse(let id, let index):
            return head + "readIndexResponse #\(id) " + (index.map { "index=\($0)" } ?? "refused")
        }
    }

    static func format(_ status: Status) -> String {
        "\(status.id.rawValue) \(status.role) term=\(status.term) leader=\(status.leader.map { String($0.rawValue) } ?? "none") commit=\(status.commitIndex)"
            + (status.transferee.map { " transferee=\($0.rawValue)" } ?? "")
    }

    static func format(_ membership: Membership) -> String {
        let voters = membership.voters.map(\.rawValue).sorted().map(String.init).joined(separator: ",")
        let learners = membership.learners.map(\.rawValue).sorted().map(String.init).joined(separator: ",")
        return "voters=(\(voters))" + (learners.isEmpty ? "" : " learners=(\(learners))")
    }

    /// A durable state: hard state, snapshot, and the entries as runs of one term (`2-5@2`).
    static func format(_ state: PersistentState) -> String {
        var runs: [String] = []
        var run: (first: LogIndex, last: LogIndex, term: Term)?
        for entry in state.entries {
            if let current = run, current.term == entry.term, current.last.rawValue + 1 == entry.index.rawValue {
                run?.last = entry.index
                continue
            }
            if let current = run { runs.append(format(current)) }
            run = (entry.index, entry.index, entry.term)
        }
        if let current = run { runs.append(format(current)) }
        let hard = state.hardState
        return "term=\(hard.term) vote=\(hard.votedFor.map { String($0.rawValue) } ?? "none") commit=\(hard.commit)"
            + " snapshot=\(state.snapshot.index)@\(state.snapshot.term) entries=[\(runs.joined(separator: ","))]"
    }

    private static func format(_ run: (first: LogIndex, last: LogIndex, term: Term)) -> String {
        run.first == run.last ? "\(run.first)@\(run.term)" : "\(run.first)-\(run.last)@\(run.term)"
    }

    private static func number(_ text: String, in range: ClosedRange<UInt64>) throws -> UInt64 {
        guard let value = UInt64(text) else { throw DataDrivenError("\(text) is not a number") }
        guard range.contains(value) else { throw DataDrivenError("\(text) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return value
    }

    /// Node ids in a list (`1,2,3`), each 1...nodeIDMax, none twice.
    private static func ids(_ text: String) throws -> [NodeID] {
        let ids = try text.split(separator: ",", omittingEmptySubsequences: false).map { NodeID(try number(String($0), in: 1...nodeIDMax)) }
        guard Set(ids).count == ids.count else { throw DataDrivenError("\(text) names a node twice") }
        return ids
    }

    /// The node at `position`, which must be in the cluster (running or crashed).
    private func node(_ arguments: [String], _ position: Int) throws -> NodeID {
        guard position < arguments.count else { throw DataDrivenError("a node id is missing") }
        let id = NodeID(try Self.number(arguments[position], in: 1...Self.nodeIDMax))
        guard durable[id] != nil else { throw DataDrivenError("node \(id.rawValue) is not in the cluster") }
        return id
    }

    private func nodes(_ text: String) throws -> [NodeID] {
        try Self.ids(text).map { try node([String($0.rawValue)], 0) }
    }

    private func running(_ id: NodeID) throws -> NodeID {
        guard !crashed.contains(id) else { throw DataDrivenError("node \(id.rawValue) is crashed") }
        return id
    }

    private static func optionalValue(_ key: String, in arguments: [String]) throws -> String? {
        let matching = arguments.filter { $0.hasPrefix(key + "=") }
        guard matching.count <= 1 else { throw DataDrivenError("\(key)= is given twice") }
        return matching.first.map { String($0.dropFirst(key.count + 1)) }
    }

    private static func value(_ key: String, in arguments: [String]) throws -> String {
        guard let value = try optionalValue(key, in: arguments) else { throw DataDrivenError("\(key)= is missing") }
        return value
    }

    /// `key=on` / `key=off`, on when absent.
    private static func flag(_ key: String, in arguments: [String]) throws -> Bool {
        switch try optionalValue(key, in: arguments) {
        case nil, "on"?: return true
        case "off"?: return false
        case let other?: throw DataDrivenError("\(key)=\(other): on or off")
        }
    }

    private func keyedNode(_ arguments: [String]) throws -> (String, NodeID) {
        guard arguments.count == 1 else { throw DataDrivenError("drop to=ID or drop from=ID") }
        for key in ["to", "from"] {
            if let text = try Self.optionalValue(key, in: arguments) { return (key, try node([text], 0)) }
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

    /// The files are input: a bad line fails its case with a message saying what is wrong.
    @Test func badLinesAreRefused() throws {
        var runner = DataDrivenRunner()
        #expect(throws: DataDrivenError.self) { try runner.run("status", []) }
        #expect(throws: DataDrivenError.self) { try runner.run("cluster", ["voters=1,1"]) }
        #expect(throws: DataDrivenError.self) { try runner.run("cluster", ["voters=0"]) }
        #expect(throws: DataDrivenError.self) { try runner.run("cluster", ["voters=1", "prevote=maybe"]) }
        #expect(try runner.run("cluster", ["voters=1,2,3"]) == "ok")
        let bad: [(String, [String])] = [
            ("tick", ["1", "0"]), ("tick", ["1", "10001"]), ("tick", ["4"]), ("tick", ["x"]),
            ("propose", ["1", "a", "count=0"]), ("propose", ["1", "a", "count=1001"]),
            ("campaign", []), ("transfer", ["1"]), ("add-learner", ["4"]), ("promote", ["2", "at=9"]),
            ("read", ["1", "0"]), ("compact", ["1", "99"]), ("partition", ["1,2", "2,3"]),
            ("deliver", ["to=1", "bogus"]), ("drop", []), ("restart", ["1"]), ("add-node", ["2"]),
            ("add-node", ["1001"]), ("frobnicate", []),
        ]
        for (command, arguments) in bad {
            #expect(throws: DataDrivenError.self, "\(command) \(arguments)") { try runner.run(command, arguments) }
        }
        #expect(try runner.run("crash", ["2"]) == "ok")
        #expect(throws: DataDrivenError.self) { try runner.run("campaign", ["2"]) }
        #expect(try runner.run("status", []).contains("2 down"))
    }

    @Test func parsingKeepsCommentsAndSplitsCases() throws {
        let cases = try DataDrivenFile.parse("# one\nstatus\n----\nx\ny\n\ntick 1\n----\nok\n")
        #expect(cases.map(\.testCase.command) == ["status", "tick 1"])
        #expect(cases.map(\.testCase.expected) == ["x\ny", "ok"])
        #expect(cases[0].prefix == ["# one"])
        #expect(throws: DataDrivenError.self) { try DataDrivenFile.parse("status\nok\n") }
    }
}
