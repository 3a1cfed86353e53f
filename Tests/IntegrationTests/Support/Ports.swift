#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP port on 127.0.0.1 that refuses connections for as long as this value is open: the
/// socket is bound (so no other test can take the port meanwhile) but never listens, so a
/// connection attempt is answered with a reset (ECONNREFUSED).
final class RefusingPort {
    let port: Int
    private let descriptor: Int32

    init() throws {
        (descriptor, port) = try bindLoopbackSocket(listening: false)
    }

    deinit {
        close(descriptor)
    }
}

/// A TCP socket bound to a free port on 127.0.0.1 (listening with a backlog of 64 when asked),
/// and that port. The caller owns the descriptor.
func bindLoopbackSocket(listening: Bool) throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw FakeServerError("socket failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, length) == 0 && (!listening || listen(descriptor, 64) == 0)
                && getsockname(descriptor, $0, &length) == 0
        }
    }
    guard ok else {
        close(descriptor)
        throw FakeServerError(listening ? "bind/listen failed" : "bind failed")
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}
