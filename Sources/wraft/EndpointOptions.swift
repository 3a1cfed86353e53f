import ArgumentParser
import Foundation
import WRaftClient
import WRaftSupport

/// `--endpoints` (alias `--node`, or `$WRAFT_ENDPOINTS`), the deadline, the credentials and `-o`:
/// the options every client command shares.
struct EndpointOptions: ParsableArguments {
    /// The environment variable the endpoints are read from when no `--endpoints` is given.
    static let endpointsEnvironmentVariable = "WRAFT_ENDPOINTS"
    /// The environment variable a token is read from when `--token` is not given.
    static let tokenEnvironmentVariable = "WRAFT_TOKEN"
    /// The endpoint used when none is given.
    static let defaultAddress = NodeAddress(host: "127.0.0.1", port: 8081)
    static var defaultEndpoint: String { defaultAddress.description }
    /// Bound on the endpoints one command takes (a cluster has a handful of members).
    static let endpointsMax = 64
    /// Bound on `--timeout-ms`.
    static let timeoutMsRange = 1...600_000

    @Option(
        name: [.customLong("endpoints"), .customLong("node")],
        help: ArgumentHelp(
            "The HTTP addresses of cluster nodes, comma-separated: HOST:PORT, [IPv6]:PORT, http://HOST:PORT or https://HOST:PORT (default: $WRAFT_ENDPOINTS, else \(EndpointOptions.defaultEndpoint)). A request that cannot reach one goes to the next.",
            valueName: "endpoints"))
    var endpointTexts: [String] = []

    @Option(name: .long, help: "How long each node may take to answer, in milliseconds (\(EndpointOptions.timeoutMsRange.lowerBound)...\(EndpointOptions.timeoutMsRange.upperBound)).")
    var timeoutMs: Int = 10_000

    @Option(name: .long, help: "The bearer token sent as `Authorization: Bearer TOKEN` (default: $WRAFT_TOKEN; prefer the variable, a flag shows in `ps`).")
    var token: String?

    @Option(name: .long, help: "With https:// endpoints: the CA (PEM) their certificates must chain to (default: the system's roots).")
    var cacert: String?

    @Option(name: .long, help: "With https:// endpoints: this client's certificate (PEM), for nodes run with --client-cert-auth.")
    var cert: String?

    @Option(name: .long, help: "The private key of --cert (PEM).")
    var key: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output: simple (readable lines), table (aligned columns), json (the node's JSON, for scripts).")
    var output: OutputFormat?

    func validate() throws {
        guard Self.timeoutMsRange.contains(timeoutMs) else {
            throw ValidationError("--timeout-ms must be in \(Self.timeoutMsRange.lowerBound)...\(Self.timeoutMsRange.upperBound)")
        }
        let addresses = try endpoints()
        guard (cert == nil) == (key == nil) else { throw ValidationError("give --cert and --key together, or neither") }
        if (cacert != nil || cert != nil) && !addresses.contains(where: \.isSecure) {
            throw ValidationError("--cacert, --cert and --key need https:// endpoints (--endpoints https://\(addresses[0].description))")
        }
        if let token = bearerToken() {
            do {
                try NodeClient.checkToken(token)
            } catch {
                throw ValidationError("--token (or $\(Self.tokenEnvironmentVariable)): \(error)")
            }
        }
    }

    /// The endpoints: from `--endpoints`/`--node`, else `$WRAFT_ENDPOINTS`, else the default.
    /// Throws a `ValidationError` (exit 64) naming the text that is not an endpoint.
    func endpoints(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [NodeAddress] {
        let source: String
        var texts = endpointTexts
        if !texts.isEmpty {
            source = "--endpoints"
        } else if let fromEnvironment = environment[Self.endpointsEnvironmentVariable],
            !fromEnvironment.trimmingCharacters(in: .whitespaces).isEmpty
        {
            source = "$" + Self.endpointsEnvironmentVariable
            texts = [fromEnvironment]
        } else {
            return [Self.defaultAddress]
        }
        do {
            return try Self.parseEndpoints(texts)
        } catch {
            throw ValidationError("\(source): \(error)")
        }
    }

    /// Parses comma-separated endpoint lists: at most `endpointsMax`, duplicates dropped (the first
    /// kept, in order).
    static func parseEndpoints(_ texts: [String]) throws(EndpointError) -> [NodeAddress] {
        var addresses: [NodeAddress] = []
        for text in texts {
            for item in text.split(separator: ",", omittingEmptySubsequences: false) {
                let trimmed = item.trimmingCharacters(in: .whitespaces)
                let address = try parseEndpoint(trimmed)
                if !addresses.contains(address) { addresses.append(address) }
                guard addresses.count <= endpointsMax else { throw .tooMany(max: endpointsMax) }
            }
        }
        guard !addresses.isEmpty else { throw .empty }
        return addresses
    }

    /// One endpoint, with the reason when it is not one.
    static func parseEndpoint(_ text: String) throws(EndpointError) -> NodeAddress {
        guard !text.isEmpty else { throw .empty }
        guard text.utf8.count <= HostPort.textBytesMax + "https://".count + 1 else {
            throw .malformed(String(text.prefix(40)) + "...", reason: "too long")
        }
        var rest = Substring(text)
        for scheme in ["https://", "http://"] where rest.lowercased().hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
        }
        if rest.contains("://") { throw .malformed(text, reason: "only http:// and https:// are spoken") }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("/") { throw .malformed(text, reason: "an endpoint has no path") }
        do {
            _ = try HostPort(parsing: rest)
        } catch {
            throw .malformed(text, reason: error.description)
        }
        do {
            return try NodeAddress(parsing: text)
        } catch {
            throw .malformed(text, reason: "\(error)")
        }
    }

    /// `--token`, else `$WRAFT_TOKEN` when set and not empty.
    func bearerToken(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let token { return token }
        guard let fromEnvironment = environment[Self.tokenEnvironmentVariable], !fromEnvironment.isEmpty else { return nil }
        return fromEnvironment
    }

    /// A client of one endpoint; the caller shuts it down.
    func makeClient(_ address: NodeAddress) throws(ClientFailure) -> NodeClient {
        let tls = address.isSecure ? ClientTLS(trustedCAFile: cacert, certificateFile: cert, privateKeyFile: key) : nil
        do {
            return try NodeClient(
                address: address, tls: tls, bearerToken: bearerToken(), connectionsMax: 1, requestTimeoutMs: timeoutMs)
        } catch {
            throw ClientFailure(error, endpoint: address)
        }
    }

    /// The deadline passed to the node (`?timeoutMs=`), leaving the client room to hear a 503/504.
    var serverTimeoutMs: Int {
        max(1, timeoutMs - NodeClient.serverDeadlineMarginMs)
    }

    /// The output format, or the command's default.
    func format(default defaultFormat: OutputFormat = .simple) -> OutputFormat {
        output ?? defaultFormat
    }
}

/// Why endpoint text is not a list of endpoints.
enum EndpointError: Error, CustomStringConvertible {
    case empty
    case tooMany(max: Int)
    case malformed(String, reason: String)

    var description: String {
        switch self {
        case .empty: "an empty endpoint (give HOST:PORT, [IPv6]:PORT, http://HOST:PORT or https://HOST:PORT)"
        case .tooMany(let max): "more than \(max) endpoints"
        case .malformed(let text, let reason):
            "'\(text)' is not an endpoint: \(reason) (give HOST:PORT, [IPv6]:PORT, http://HOST:PORT or https://HOST:PORT)"
        }
    }
}

/// `-o`: how a command prints its answer.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Readable lines.
    case simple
    /// Aligned columns under a header.
    case table
    /// The node's JSON as it sends it (one document per line when a command makes several
    /// requests), stable for scripts.
    case json
}
