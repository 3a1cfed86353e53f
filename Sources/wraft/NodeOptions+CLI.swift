import ArgumentParser
import Foundation
import WRaftClient

/// `--node`, `--timeout-ms` and the credentials, shared by the client commands.
struct NodeConnectionOptions: ParsableArguments {
    /// The environment variable a token is read from when `--token` is not given.
    static let tokenEnvironmentVariable = "WRAFT_TOKEN"

    @Option(name: .long, help: "The HTTP address of any node of the cluster: HOST:PORT, or https://HOST:PORT for a node serving HTTPS.")
    var node: String = "127.0.0.1:8081"

    @Option(name: .long, help: "How long the node may take to answer, in milliseconds (1...600000).")
    var timeoutMs: Int = 10_000

    @Option(name: .long, help: "The bearer token sent as `Authorization: Bearer TOKEN` (default: $WRAFT_TOKEN; prefer the variable, a flag shows in `ps`).")
    var token: String?

    @Option(name: .long, help: "With an https:// node: the CA (PEM) its certificate must chain to (default: the system's roots).")
    var cacert: String?

    @Option(name: .long, help: "With an https:// node: this client's certificate (PEM), for a node run with --client-cert-auth.")
    var cert: String?

    @Option(name: .long, help: "The private key of --cert (PEM).")
    var key: String?

    func validate() throws {
        guard (1...600_000).contains(timeoutMs) else { throw ValidationError("--timeout-ms must be in 1...600000") }
        let address = try address()
        guard (cert == nil) == (key == nil) else { throw ValidationError("give --cert and --key together, or neither") }
        if !address.isSecure && (cacert != nil || cert != nil) {
            throw ValidationError("--cacert, --cert and --key need an https:// node (--node https://\(address.description))")
        }
        if let token = bearerToken() {
            do {
                try NodeClient.checkToken(token)
            } catch {
                throw ValidationError("--token (or $\(Self.tokenEnvironmentVariable)): \(error)")
            }
        }
    }

    func address() throws -> NodeAddress {
        do {
            return try NodeAddress(parsing: node)
        } catch {
            throw ValidationError("--node: \(error)")
        }
    }

    /// `--token`, else `$WRAFT_TOKEN` when set and not empty.
    func bearerToken(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let token { return token }
        guard let fromEnvironment = environment[Self.tokenEnvironmentVariable], !fromEnvironment.isEmpty else { return nil }
        return fromEnvironment
    }

    /// The HTTPS settings of an https:// node; nil for plain HTTP.
    func clientTLS(for address: NodeAddress) -> ClientTLS? {
        guard address.isSecure else { return nil }
        return ClientTLS(trustedCAFile: cacert, certificateFile: cert, privateKeyFile: key)
    }

    /// A client of the node; the node's own deadline is the timeout minus the client's margin.
    func makeClient() throws -> NodeClient {
        let address = try address()
        do {
            return try NodeClient(
                address: address, tls: clientTLS(for: address), bearerToken: bearerToken(), connectionsMax: 1,
                requestTimeoutMs: timeoutMs)
        } catch {
            throw error.forCLI(node: node)
        }
    }

    /// The deadline passed to the node (`?timeoutMs=`), leaving the client room to hear a 503/504.
    var serverTimeoutMs: Int {
        max(1, timeoutMs - NodeClient.serverDeadlineMarginMs)
    }
}
