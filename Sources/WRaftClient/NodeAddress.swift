import WRaftSupport

/// A `HOST:PORT` address of a node's HTTP (or raft) port, and whether the node speaks HTTPS.
public struct NodeAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// True for an `https://` address: the client speaks TLS to it.
    public var isSecure: Bool

    public init(host: String, port: Int, isSecure: Bool = false) {
        self.host = host
        self.port = port
        self.isSecure = isSecure
    }

    /// Parses `HOST:PORT` (`[v6]:PORT` for IPv6; `HostPort`'s rules), optionally after `http://`
    /// or `https://` and before one `/`; throws `.invalidAddress` on anything else.
    public init(parsing text: String) throws(WRaftClientError) {
        var rest = Substring(text)
        var isSecure = false
        if rest.lowercased().hasPrefix("https://") {
            isSecure = true
            rest = rest.dropFirst("https://".count)
        } else if rest.lowercased().hasPrefix("http://") {
            rest = rest.dropFirst("http://".count)
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        // The rest follows the one set of address rules (`HostPort`).
        guard let parsed = try? HostPort(parsing: rest) else { throw .invalidAddress(text) }
        self.host = parsed.host
        self.port = parsed.port
        self.isSecure = isSecure
    }

    /// `HOST:PORT` (`[v6]:PORT`), as the `Host` header names it.
    public var description: String {
        HostPort(host: host, port: port).description
    }

    /// `http://HOST:PORT` or `https://HOST:PORT`.
    public var url: String {
        (isSecure ? "https://" : "http://") + description
    }
}
