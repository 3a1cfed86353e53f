/// A raft address, `host:port` (an IPv6 host in brackets: `[::1]:10002`).
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; throws `TransportError.invalidAddress` for anything else.
    public init(parsing text: String) throws(TransportError) {
        guard let colon = text.lastIndex(of: ":") else { throw .invalidAddress(text) }
        var host = Substring(text[..<colon])
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = host.dropFirst().dropLast()
        } else if host.contains(":") {
            // An IPv6 host must be bracketed, or the port is ambiguous.
            throw .invalidAddress(text)
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else {
            throw .invalidAddress(text)
        }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
