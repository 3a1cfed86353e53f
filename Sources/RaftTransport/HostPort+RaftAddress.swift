import WRaftSupport

// A peer's raft address is a `HostPort` (WRaftSupport's one host:port value); the transport
// only adds its own error for one that does not parse.

extension HostPort {
    /// Parses a raft address `host:port` (an IPv6 host in brackets: `[::1]:10002`) by the one
    /// set of address rules; throws `TransportError.invalidAddress` for anything else.
    public init(raftAddress text: String) throws(TransportError) {
        do {
            try self.init(parsing: text)
        } catch {
            throw .invalidAddress(text)
        }
    }
}
