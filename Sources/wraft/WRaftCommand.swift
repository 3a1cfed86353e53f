import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import WRaftAPI

/// The process entry point.
@main
enum WRaftMain {
    static func main() async {
        // Run Swift concurrency on NIO's event loop threads, so a node's actor, its HTTP channels
        // and its peer channels share the same few threads instead of handing every request
        // across thread pools. Done first, before any task is enqueued; when it cannot be done
        // the default executor is used and nothing else changes.
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let threads = EventLoopThreads.requested(in: arguments) ?? ServeCommand.requestedThreads(arguments: arguments) {
            NIOSingletons.groupLoopCountSuggestion = threads
        }
        let installed = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        if ProcessInfo.processInfo.environment["WRAFT_DEBUG_EXECUTOR"] != nil {
            print("Swift concurrency on NIO event loops: \(installed)")
        }
        await WRaftCommand.main()
    }
}

/// `wraft`: run nodes and local clusters, talk to a cluster, benchmark it, check it.
struct WRaftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wraft",
        abstract: "WRaft: a Raft-replicated key-value store.",
        discussion: """
            Start a local 3-node cluster with `wraft cluster`, then use `wraft put/get/delete/list/state \
            --endpoints HOST:PORT,...` (or $WRAFT_ENDPOINTS) against its nodes (`lease`, `txn` and \
            `compact` for leases, transactions and history); form clusters by hand with `wraft \
            connect` and `wraft start`, promote learners with `wraft member promote`, watch them \
            with `wraft endpoint status`.
            """,
        version: WRaftVersion.string,
        subcommands: [
            ServeCommand.self, ClusterCommand.self, CertsCommand.self,
            PutCommand.self, GetCommand.self, DeleteCommand.self, ListCommand.self, WatchCommand.self, StateCommand.self,
            LeaseCommand.self, TxnCommand.self, CompactCommand.self,
            ConnectCommand.self, StartCommand.self, MemberCommand.self, LogCommand.self, EndpointCommand.self,
            OpCommand.self,
            BenchCommand.self, CheckCommand.self,
        ])
}
