import ArgumentParser
import WRaftClient

/// `--node HOST:PORT` and `--timeout-ms`, shared by the client commands.
struct NodeConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "The HTTP address of any node of the cluster (HOST:PORT).")
    var node: String = "127.0.0.1:8081"

    @Option(name: .long, help: "How long the node may take to answer, in milliseconds (1...600000).")
    var timeoutMs: Int = 10_000

    func validate() throws {
        guard (1...600_000).contains(timeoutMs) else { throw ValidationError("--timeout-ms must be in 1...600000") }
        _ = try address()
    }

    func address() throws -> NodeAddress {
        do {
            return try NodeAddress(parsing: node)
        } catch {
            throw ValidationError("--node: \(error)")
        }
    }

    /// A client of the node; the node's own deadline is the timeout minus the client's margin.
    func makeClient() throws -> NodeClient {
        NodeClient(address: try address(), connectionsMax: 1, requestTimeoutMs: timeoutMs)
    }

    /// The deadline passed to the node (`?timeoutMs=`), leaving the client room to hear a 503/504.
    var serverTimeoutMs: Int {
        max(1, timeoutMs - NodeClient.serverDeadlineMarginMs)
    }
}
