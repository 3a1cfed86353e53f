import Hummingbird
import NIOCore

/// The Server-Sent Events plumbing `GET /events` and `GET /watch` share: the response's head
/// and the framing of one message. A message's `data` is one line of JSON (the writers escape
/// every control character), so it never needs splitting.
enum ServerSentEvents {
    /// The response that streams `body`.
    static func response(_ body: ResponseBody) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// Appends one message: `id:` (what `Last-Event-ID` returns on a reconnect), `event:` (absent:
    /// the default `message`), `data:`, and the blank line that ends it.
    static func append(to buffer: inout ByteBuffer, id: UInt64?, event: String?, data: ByteBuffer) {
        if let id { buffer.writeString("id: \(id)\n") }
        if let event { buffer.writeString("event: \(event)\n") }
        buffer.writeStaticString("data: ")
        var data = data
        buffer.writeBuffer(&data)
        buffer.writeStaticString("\n\n")
    }

    /// The same with text data.
    static func append(to buffer: inout ByteBuffer, id: UInt64?, event: String?, text: String) {
        if let id { buffer.writeString("id: \(id)\n") }
        if let event { buffer.writeString("event: \(event)\n") }
        buffer.writeString("data: \(text)\n\n")
    }

    /// A comment line: keeps a proxy's and the server's idle timers from closing a quiet stream.
    static func appendKeepalive(to buffer: inout ByteBuffer) {
        buffer.writeStaticString(": keepalive\n\n")
    }
}
