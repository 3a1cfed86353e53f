import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A scripted HTTP/1.1 server on 127.0.0.1 for testing `NodeClient` without a node: blocking
/// sockets, a thread per connection, every request recorded, every answer from `reply`.
final class FakeHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var target: String
        var headers: [String: String]
        var body: [UInt8]
    }

    enum Reply: Sendable {
        case respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], delayMs: Int = 0)
        /// Close the connection without answering.
        case close
        /// Never answer (the connection stays open until the server stops).
        case hang
    }

    /// Bound on a request head or body the fake accepts.
    static let requestBytesMax = 4 << 20

    let port: Int
    private let listener: Int32
    private let reply: @Sendable (Request) -> Reply
    private let accepting: Bool
    /// `sockets` are the connections still open: a descriptor is closed under the lock and
    /// removed at once, so `stop()` never shuts down a number the process has reused since.
    private let record = Mutex<(requests: [Request], connections: Int, open: Int, openMax: Int, sockets: Set<Int32>)>(
        ([], 0, 0, 0, []))

    /// - Parameter accepting: false makes a server that listens but never accepts (the kernel
    ///   completes the TCP handshake, nothing ever answers).
    init(accepting: Bool = true, reply: @escaping @Sendable (Request) -> Reply) throws {
        (listener, port) = try bindLoopbackSocket(listening: true)
        self.reply = reply
        self.accepting = accepting
        if accepting {
            Thread.detachNewThread { [self] in acceptLoop() }
        }
    }

    var address: String { "127.0.0.1:\(port)" }
    var requests: [Request] { record.withLock { $0.requests } }
    /// Connections accepted so far.
    var connectionCount: Int { record.withLock { $0.connections } }
    /// The most connections open at once.
    var openConnectionsMax: Int { record.withLock { $0.openMax } }

    /// Stops listening and ends every connection. The listening descriptor is closed by the
    /// accept thread once `accept` fails, so its number is never reused while still in use.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        if !accepting { close(listener) }
        record.withLock { state in
            for socket in state.sockets { shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else {
                close(listener)
                return
            }
            record.withLock { state in
                state.connections += 1
                state.open += 1
                state.openMax = max(state.openMax, state.open)
                state.sockets.insert(connection)
            }
            Thread.detachNewThread { [self] in
                serve(connection)
                record.withLock { state in
                    state.open -= 1
                    state.sockets.remove(connection)
                    close(connection)
                }
            }
        }
    }

    private func serve(_ connection: Int32) {
        var buffer: [UInt8] = []
        while let request = readRequest(connection, buffer: &buffer) {
            record.withLock { $0.requests.append(request) }
            switch reply(request) {
            case .close:
                return
            case .hang:
                // Wait for the peer to give up (or the server to stop).
                var byte: UInt8 = 0
                while recv(connection, &byte, 1, 0) > 0 {}
                return
            case .respond(let status, let headers, let body, let delayMs):
                if delayMs > 0 { usleep(UInt32(delayMs * 1_000)) }
                var head = "HTTP/1.1 \(status) Status\r\nContent-Length: \(body.count)\r\n"
                for (name, value) in headers { head += "\(name): \(value)\r\n" }
                head += "\r\n"
                guard sendAll(connection, Array(head.utf8) + body) else { return }
            }
        }
    }

    private func readRequest(_ connection: Int32, buffer: inout [UInt8]) -> Request? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            headEnd = buffer.firstRange(of: separator)?.lowerBound
            if headEnd == nil {
                guard buffer.count < Self.requestBytesMax, receive(connection, into: &buffer) else { return nil }
            }
        }
        guard let headEnd else { return nil }
        let headText = String(decoding: buffer[..<headEnd], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyLength = Int(headers["content-length"] ?? "0") ?? 0
        let bodyStart = headEnd + separator.count
        while buffer.count < bodyStart + bodyLength {
            guard bodyLength <= Self.requestBytesMax, receive(connection, into: &buffer) else { return nil }
        }
        let body = Array(buffer[bodyStart..<(bodyStart + bodyLength)])
        buffer.removeFirst(bodyStart + bodyLength)
        return Request(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, body: body)
    }

    private func receive(_ connection: Int32, into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = recv(connection, &chunk, chunk.count, 0)
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }

    private func sendAll(_ connection: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }
}

struct FakeServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// JSON bytes of a literal.
func json(_ text: String) -> [UInt8] { Array(text.utf8) }
