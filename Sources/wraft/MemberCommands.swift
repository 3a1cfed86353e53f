import ArgumentParser
import WRaftAPI
import WRaftClient

/// `wraft member list|remove|promote`.
struct MemberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member",
        abstract: "List, promote and remove cluster members.",
        discussion: """
            A node joins as a learner (a member that receives the log but does not vote) through \
            `wraft connect` run against the new, empty node. By default the leader promotes it to \
            voter by itself once it has caught up; on nodes run with \
            --auto-promote-learners=false it stays a learner until `wraft member promote ID`.
            \(ClientExit.helpText)
            """,
        subcommands: [MemberListCommand.self, MemberPromoteCommand.self, MemberRemoveCommand.self])
}

struct MemberListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the members as the first endpoint that answers sees them.",
        discussion: """
            One member per line (-o table: columns). When the first endpoint that answers is not \
            the leader, the leader is asked too (at the HTTP address the members know it by), for \
            each member's match index and last contact; if it does not answer, the first view is \
            shown. -o json prints that node's GET /state JSON, whose "members" array is the list.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions

    func run() async throws {
        try await runClientCommand {
            let timeoutMs = endpoints.timeoutMs
            let (answer, endpoint) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
                try await client.state(timeoutMs: timeoutMs)
            }
            let state = await Self.leaderView(after: answer, from: endpoint, endpoints: endpoints) ?? answer
            switch endpoints.format() {
            case .simple:
                for member in state.members {
                    var fields = [member.id, member.raftAddress, member.httpAddress, member.voter ? "voter" : "learner"]
                    if member.id == state.leader?.id { fields.append("leader") }
                    print(fields.joined(separator: ", "))
                }
            case .table:
                print(MemberTable.make(state.members, leaderID: state.leader?.id).rendered)
            case .json:
                printJSON(state.encodedJSON())
            }
        }
    }
}

extension MemberListCommand {
    /// The leader's view (with each member's match index and last contact) when `state` came
    /// from a follower that knows the leader; nil when it is the leader's already or the leader
    /// does not answer (the follower's view is shown then).
    static func leaderView(after state: NodeStateView, from endpoint: NodeAddress, endpoints: EndpointOptions) async
        -> NodeStateView?
    {
        guard !state.isLeader, let leader = state.leader, var address = try? NodeAddress(parsing: leader.httpAddress) else {
            return nil
        }
        address.isSecure = endpoint.isSecure
        guard let client = try? endpoints.makeClient(address) else { return nil }
        let view = try? await client.state(timeoutMs: endpoints.timeoutMs)
        await client.shutDown()
        return view?.id == leader.id ? view : nil
    }
}

struct MemberRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a member through a membership change (the leader too).",
        discussion: """
            Any node takes the request and passes it to the leader; the command returns once the \
            change is applied. Member ids are the 16 hex digits `wraft member list` shows.
            \(ClientExit.helpText)
            """)

    /// Bound on the id's length (ids are 16 hex digits; the node says why another is wrong).
    static let idBytesMax = 64

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The member's id.") var id: String

    func validate() throws {
        guard (1...Self.idBytesMax).contains(id.utf8.count) else {
            throw ValidationError("a member id has 1...\(Self.idBytesMax) characters (16 hex digits)")
        }
    }

    func run() async throws {
        try await runClientCommand {
            let (id, timeoutMs) = (id, endpoints.timeoutMs)
            let (removed, _) = try await endpoints.withFailover(.whenNotSent) { client throws(WRaftClientError) in
                try await client.removeMember(id: id, timeoutMs: timeoutMs)
            }
            switch endpoints.format() {
            case .simple: print("removed \(removed)")
            case .table:
                var table = TextTable(["REMOVED"])
                table.append([removed])
                print(table.rendered)
            case .json: printJSON(RemovedView(removed: removed).encodedJSON())
            }
        }
    }
}

struct MemberPromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Promote a learner to voter through a membership change.",
        discussion: """
            Any node takes the request and passes it to the leader; the command returns once the \
            change is applied and the member votes. The leader promotes only a learner that is in \
            sync with it (its log at most a bounded number of entries behind): a learner that \
            still catches up is refused with learner_not_ready (exit 8; retry later), a voter \
            with not_learner (exit 8), an unknown id with not_found (exit 3), and while another \
            membership change is in progress with membership_change_pending (exit 8). \
            `wraft member list` shows which members are learners.
            Example:
              wraft member promote 5c1d0e7a9b3f2a10
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The learner's id (16 hex digits, as `wraft member list` shows).") var id: String

    func validate() throws {
        guard (1...MemberRemoveCommand.idBytesMax).contains(id.utf8.count) else {
            throw ValidationError("a member id has 1...\(MemberRemoveCommand.idBytesMax) characters (16 hex digits)")
        }
    }

    func run() async throws {
        try await runClientCommand {
            let (id, timeoutMs) = (id, endpoints.serverTimeoutMs)
            // A membership change is a write: it moves on only when no node can have seen it.
            let (promoted, _) = try await endpoints.withFailover(.whenNotSent) { client throws(WRaftClientError) in
                try await client.promoteMember(id: id, timeoutMs: timeoutMs)
            }
            switch endpoints.format() {
            case .simple: print("promoted \(promoted) to voter")
            case .table:
                var table = TextTable(["PROMOTED"])
                table.append([promoted])
                print(table.rendered)
            case .json: printJSON(PromotedView(promoted: promoted).encodedJSON())
            }
        }
    }
}

/// Members as a table.
enum MemberTable {
    static func make(_ members: [MemberView], leaderID: String?) -> TextTable {
        var table = TextTable(["ID", "RAFT ADDRESS", "HTTP ADDRESS", "KIND", "LEADER", "MATCH", "CONTACT MS"])
        for member in members {
            table.append([
                member.id, member.raftAddress, member.httpAddress, member.voter ? "voter" : "learner", String(member.id == leaderID),
                member.matchIndex.map(String.init) ?? "-", member.lastContactMs.map(String.init) ?? "-",
            ])
        }
        return table
    }
}
