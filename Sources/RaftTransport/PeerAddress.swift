import WRaftSupport

/// A raft address, `host:port` (an IPv6 host in brackets: `[::1]:10002`).
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` by the one set of address rules (`HostPort`); throws
    /// `TransportError.invalidAddress` for anything else.
    public init(parsing text: String) throws(TransportError) {
        guard let parsed = try? HostPort(parsing: text) else { throw .invalidAddress(text) }
        self.init(host: parsed.host, port: parsed.port)
    }

    public var description: String { HostPort(host: host, port: port).description }
}
