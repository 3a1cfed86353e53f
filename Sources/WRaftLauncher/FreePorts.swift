#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Free TCP ports on an IPv4 host, found by binding port 0.
enum FreePorts {
    /// `count` distinct ports that were free a moment ago. All probe sockets stay bound until
    /// every port is chosen, so the ports differ; someone may still take one before it is used,
    /// which the launcher handles by retrying with new ports.
    static func find(count: Int, host: String) throws(LocalClusterError) -> [Int] {
        var descriptors: [Int32] = []
        defer { for descriptor in descriptors { close(descriptor) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let (descriptor, port) = try bindEphemeral(host: host)
            descriptors.append(descriptor)
            ports.append(port)
        }
        return ports
    }

    private static func bindEphemeral(host: String) throws(LocalClusterError) -> (Int32, Int) {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw .portsUnavailable("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(descriptor)
            throw .portsUnavailable("\(host) is not an IPv4 address")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0
                    && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else {
            close(descriptor)
            throw .portsUnavailable("bind to \(host):0 failed: errno \(errno)")
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}
