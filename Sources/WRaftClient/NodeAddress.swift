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

    /// Parses `HOST:PORT` (`[v6]:PORT` for IPv6), optionally after `http://` or `https://` and
    /// before one `/`; throws `.invalidAddress` on anything else.
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
        guard let colon = rest.lastIndex(of: ":") else { throw .invalidAddress(text) }
        var host = String(rest[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        guard !host.isEmpty, !host.contains("/"), !host.contains("@"),
            let port = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(port)
        else { throw .invalidAddress(text) }
        self.host = host
        self.port = port
        self.isSecure = isSecure
    }

    /// `HOST:PORT` (`[v6]:PORT`), as the `Host` header names it.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// `http://HOST:PORT` or `https://HOST:PORT`.
    public var url: String {
        (isSecure ? "https://" : "http://") + description
    }
}
