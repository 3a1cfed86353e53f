import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keep-alive connections to one node, at most `connectionsMax` open at once.
///
/// A request leases a connection (an idle one, else a new one while under the bound, else it
/// waits in line until its deadline), runs one exchange, and gives it back; a connection that
/// failed or was not keep-alive is closed instead and its place freed.
final class ConnectionPool: Sendable {
    /// What a waiting request is handed: a connection, or the right to open one.
    private enum Grant: Sendable {
        case connection(any Channel)
        case permitToOpen
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Grant, any Error>
    }

    private struct State {
        /// Invariant: idle.count <= openCount <= connectionsMax.
        var idle: [any Channel] = []
        var openCount = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var isShutDown = false
    }

    let address: NodeAddress
    private let connectionsMax: Int
    private let responseBytesMax: Int
    private let eventLoopGroup: any EventLoopGroup
    /// The TLS context of an `https://` address (or why there is none); nil for plain HTTP.
    private let tlsContext: Result<NIOSSLContext, WRaftClientError>?
    private let state = Mutex(State())

    init(
        address: NodeAddress, connectionsMax: Int, responseBytesMax: Int, eventLoopGroup: any EventLoopGroup,
        tlsContext: Result<NIOSSLContext, WRaftClientError>? = nil
    ) {
        precondition(connectionsMax >= 1, "ConnectionPool: connectionsMax is at least 1")
        precondition(address.isSecure == (tlsContext != nil), "ConnectionPool: an https address has a TLS context")
        self.address = address
        self.connectionsMax = connectionsMax
        self.responseBytesMax = responseBytesMax
        self.eventLoopGroup = eventLoopGroup
        self.tlsContext = tlsContext
    }

    /// A connection ready for one exchange; throws `.timeout` when none frees up before `deadline`.
    func lease(deadline: NIODeadline, timeoutMs: Int) async throws(WRaftClientError) -> any Channel {
        enum Decision {
            case use(any Channel)
            case open
            case wait
            case shutDown
        }
        let decision: Decision = state.withLock { state in
            if state.isShutDown { return .shutDown }
            while let channel = state.idle.popLast() {
                if channel.isActive { return .use(channel) }
                state.openCount -= 1
            }
            if state.openCount < connectionsMax {
                state.openCount += 1
                return .open
            }
            return .wait
        }
        switch decision {
        case .use(let channel): return channel
        case .open: return try await openCounted(deadline: deadline, timeoutMs: timeoutMs)
        case .shutDown: throw .shutDown
        case .wait:
            switch try await waitForGrant(deadline: deadline, timeoutMs: timeoutMs) {
            case .connection(let channel): return channel
            case .permitToOpen: return try await openCounted(deadline: deadline, timeoutMs: timeoutMs)
            }
        }
    }

    /// Gives a leased connection back: kept for the next request when reusable, else closed.
    func release(_ channel: any Channel, isReusable: Bool) {
        let (keep, handOff): (Bool, (Waiter, Grant)?) = state.withLock { state in
            if isReusable && channel.isActive && !state.isShutDown {
                if !state.waiters.isEmpty { return (true, (state.waiters.removeFirst(), .connection(channel))) }
                state.idle.append(channel)
                return (true, nil)
            }
            return (false, freePlace(&state))
        }
        if !keep { channel.close(promise: nil) }
        if let (waiter, grant) = handOff { waiter.continuation.resume(returning: grant) }
    }

    /// Closes every idle connection and fails every waiting request; leased connections are
    /// closed when given back.
    func shutDown() async {
        let (idle, waiters) = state.withLock { state in
            state.isShutDown = true
            let idle = state.idle
            let waiters = state.waiters
            state.idle = []
            state.waiters = []
            state.openCount -= idle.count
            return (idle, waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: WRaftClientError.shutDown) }
        for channel in idle { try? await channel.close() }
    }

    /// A place was freed: hand the right to open a connection to the first waiter, if any.
    private func freePlace(_ state: inout State) -> (Waiter, Grant)? {
        if !state.waiters.isEmpty && !state.isShutDown {
            return (state.waiters.removeFirst(), .permitToOpen)
        }
        state.openCount -= 1
        return nil
    }

    private func openCounted(deadline: NIODeadline, timeoutMs: Int) async throws(WRaftClientError) -> any Channel {
        do {
            return try await openConnection(deadline: deadline, timeoutMs: timeoutMs)
        } catch {
            let handOff = state.withLock { freePlace(&$0) }
            if let (waiter, grant) = handOff { waiter.continuation.resume(returning: grant) }
            throw error
        }
    }

    private func waitForGrant(deadline: NIODeadline, timeoutMs: Int) async throws(WRaftClientError) -> Grant {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        // The deadline is enforced by a timer that removes the waiter if it is still in line.
        let timer = Task { [self] in
            let remaining = deadline - NIODeadline.now()
            try await Task.sleep(for: .nanoseconds(max(0, remaining.nanoseconds)))
            let expired = state.withLock { state -> Waiter? in
                guard let position = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: position)
            }
            expired?.continuation.resume(throwing: WRaftClientError.timeout(afterMs: timeoutMs))
        }
        defer { timer.cancel() }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let isShutDown = state.withLock { state in
                    if state.isShutDown { return true }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if isShutDown { continuation.resume(throwing: WRaftClientError.shutDown) }
            }
        } catch let error as WRaftClientError {
            throw error
        } catch {
            throw .shutDown
        }
    }

    func openConnection(deadline: NIODeadline, timeoutMs: Int) async throws(WRaftClientError) -> any Channel {
        let remainingMs = max(1, (deadline - NIODeadline.now()).nanoseconds / 1_000_000)
        let responseBytesMax = self.responseBytesMax
        let description = address.description
        let sslContext: NIOSSLContext?
        switch tlsContext {
        case .none: sslContext = nil
        case .success(let context): sslContext = context
        case .failure(let error): throw error
        }
        // TLS sends the name dialled as SNI and checks it against the DNS SANs; an address
        // literal is checked against the IP SANs instead.
        let serverHostname = address.host.isIPAddressLiteral ? nil : address.host
        let loop = eventLoopGroup.next()
        let handshake = loop.makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(remainingMs))
            .channelInitializer { channel in
                do {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                        try channel.pipeline.syncOperations.addHandler(TLSHandshakeObserver(promise: handshake))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPExchangeHandler(responseBytesMax: responseBytesMax, peerDescription: description))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let channel: any Channel
        do {
            if let socketAddress = try? SocketAddress(ipAddress: address.host, port: address.port) {
                channel = try await bootstrap.connect(to: socketAddress).get()
            } else {
                channel = try await bootstrap.connect(host: address.host, port: address.port).get()
            }
        } catch {
            handshake.fail(error)
            throw mapConnectError(error, timeoutMs: timeoutMs)
        }
        guard sslContext != nil else {
            handshake.succeed()
            return channel
        }
        // The request goes out only on a finished handshake: a refused certificate is a failure
        // to connect (certainly not applied), not a lost request.
        let timer = loop.scheduleTask(deadline: deadline) {
            handshake.fail(WRaftClientError.timeout(afterMs: timeoutMs))
        }
        do {
            try await handshake.futureResult.get()
            timer.cancel()
            return channel
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            if let clientError = error as? WRaftClientError { throw clientError }
            throw .connectFailed(address: description, reason: "TLS handshake failed: \(error)")
        }
    }

    private func mapConnectError(_ error: any Error, timeoutMs: Int) -> WRaftClientError {
        // No connection within the deadline: nothing was sent, so this is a failure to connect
        // (certainly not applied, safe to try another node), not a lost request.
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return .connectFailed(address: address.description, reason: "no connection within \(timeoutMs) ms")
        }
        if isConnectionRefused(error) {
            return .connectionRefused(address: address.description)
        }
        return .connectFailed(address: address.description, reason: "\(error)")
    }

    private func isConnectionRefused(_ error: any Error) -> Bool {
        if let ioError = error as? IOError {
            return ioError.errnoCode == ECONNREFUSED
        }
        if let connectionError = error as? NIOConnectionError {
            return !connectionError.connectionErrors.isEmpty
                && connectionError.connectionErrors.allSatisfy { isConnectionRefused($0.error) }
        }
        return false
    }
}

extension ConnectionPool {
    /// Closes the idle connections now, without waiting (for the owner's `deinit`).
    func closeIdleConnections() {
        let idle = state.withLock { state in
            state.isShutDown = true
            let idle = state.idle
            state.idle = []
            state.openCount -= idle.count
            return idle
        }
        for channel in idle { channel.close(promise: nil) }
    }
}
