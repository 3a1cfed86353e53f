import ArgumentParser

/// `wraft`: run nodes and local clusters, talk to a cluster, benchmark it, check it.
@main
struct WRaftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wraft",
        abstract: "WRaft: a Raft-replicated key-value store.",
        discussion: """
            Start a local 3-node cluster with `wraft cluster`, then use `wraft put/get/delete/list/state \
            --node HOST:PORT` against any of its nodes.
            """,
        subcommands: [
            ServeCommand.self, ClusterCommand.self,
            PutCommand.self, GetCommand.self, DeleteCommand.self, ListCommand.self, StateCommand.self,
            BenchCommand.self, CheckCommand.self,
        ])
}
