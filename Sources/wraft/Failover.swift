import WRaftClient

/// When a request moves on to the next endpoint. Only a node that cannot be reached is passed
/// over: an answer, even an error, is the cluster's verdict and ends the command.
enum Failover: Sendable {
    /// Reads and idempotent requests: refused, no connection, no answer in time, connection lost.
    case whenUnanswered
    /// Writes: only when the request certainly never reached a node (refused, no connection), so a
    /// write that may have been applied is never sent again to another node.
    case whenNotSent
    /// A request about one node (a fault, forming from it): the first endpoint only.
    case never

    /// Whether `error` from one endpoint lets the request go to the next.
    func allows(_ error: WRaftClientError) -> Bool {
        switch (self, error) {
        case (.never, _): false
        case (_, .connectionRefused), (_, .connectFailed): true
        case (.whenUnanswered, .timeout), (.whenUnanswered, .connectionClosed): true
        default: false
        }
    }
}

extension EndpointOptions {
    /// Runs `body` with a client of the first endpoint, and of the next ones while `failover`
    /// allows; returns the result and the endpoint that gave it. Notes each endpoint passed over
    /// on standard error. Throws the last endpoint's failure (all of them named when several
    /// were tried). `while` false stops the failover too (a listing that has printed a page).
    func withFailover<Result: Sendable>(
        _ failover: Failover, while mayContinue: () -> Bool = { true },
        _ body: (NodeClient) async throws(WRaftClientError) -> Result
    ) async throws -> (result: Result, endpoint: NodeAddress) {
        let addresses = try endpoints()
        var failures: [String] = []
        for (position, address) in addresses.enumerated() {
            let client = try makeClient(address)
            do {
                let result = try await body(client)
                await client.shutDown()
                return (result, address)
            } catch {
                await client.shutDown()
                failures.append("\(address.url): \(error)")
                let next = addresses.index(after: position)
                guard failover.allows(error), next < addresses.endIndex, mayContinue() else {
                    let message = failures.count > 1 ? "no endpoint answered: " + failures.joined(separator: "; ") : failures[0]
                    throw ClientFailure(ClientExit(error), message)
                }
                printToStandardError("wraft: \(address.url): \(error); trying \(addresses[next].url)")
            }
        }
        preconditionFailure("withFailover: endpoints() returns at least one endpoint")
    }

    /// Runs `body` with a client of each endpoint at once, returning one outcome per endpoint in
    /// the endpoints' order, with the time each took: for `endpoint health` and `endpoint status`.
    func eachEndpoint<Result: Sendable>(
        _ addresses: [NodeAddress], _ body: @escaping @Sendable (NodeClient) async throws(WRaftClientError) -> Result
    ) async throws -> [EndpointOutcome<Result>] {
        var clients: [NodeClient] = []
        for address in addresses { clients.append(try makeClient(address)) }
        let outcomes = await withTaskGroup(of: (Int, EndpointOutcome<Result>).self) { group in
            for (position, client) in clients.enumerated() {
                group.addTask {
                    let started = ContinuousClock.now
                    let result: Swift.Result<Result, WRaftClientError>
                    do throws(WRaftClientError) {
                        result = .success(try await body(client))
                    } catch {
                        result = .failure(error)
                    }
                    let took = ContinuousClock.now - started
                    let tookMs = Double(took.components.seconds) * 1_000 + Double(took.components.attoseconds) / 1e15
                    return (position, EndpointOutcome(endpoint: client.address, result: result, tookMs: tookMs))
                }
            }
            var collected: [(Int, EndpointOutcome<Result>)] = []
            for await outcome in group { collected.append(outcome) }
            return collected.sorted { $0.0 < $1.0 }.map(\.1)
        }
        for client in clients { await client.shutDown() }
        return outcomes
    }
}

/// What one endpoint answered, and how long it took.
struct EndpointOutcome<Result: Sendable>: Sendable {
    var endpoint: NodeAddress
    var result: Swift.Result<Result, WRaftClientError>
    var tookMs: Double

    /// The answer, or nil after a failure.
    var value: Result? {
        if case .success(let value) = result { return value }
        return nil
    }

    /// The failure, or nil.
    var error: WRaftClientError? {
        if case .failure(let error) = result { return error }
        return nil
    }
}
