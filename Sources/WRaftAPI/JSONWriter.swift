import NIOCore

/// Writes JSON straight into a `ByteBuffer`. Every response body of the API is small and of a
/// fixed shape, so writing it by hand is both exact (`null` where API.md says null, no field
/// reordering) and several times cheaper than going through `Codable` on the write path (the
/// node answers every write with one of these). The view types write themselves with it, naming
/// each field by its own `CodingKeys`, so the key the server writes is the key the client's
/// `Decodable` reads.
///
/// Commas are placed automatically: after a complete value the next key or array element is
/// preceded by one.
package struct JSONWriter {
    package private(set) var buffer: ByteBuffer
    /// True after a complete value, so the next key or element needs a comma first.
    private var needsComma = false

    package init(capacity: Int = 128) {
        buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
    }

    /// One JSON object whose members `body` writes: `{...}`, as a buffer.
    package static func object(capacity: Int = 128, _ body: (inout JSONWriter) -> Void) -> ByteBuffer {
        var writer = JSONWriter(capacity: capacity)
        writer.beginObject()
        body(&writer)
        writer.endObject()
        return writer.buffer
    }

    package mutating func beginObject() { open(UInt8(ascii: "{")) }

    package mutating func endObject() { close(UInt8(ascii: "}")) }

    package mutating func beginArray() { open(UInt8(ascii: "[")) }

    package mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        writeCommaIfNeeded()
        buffer.writeInteger(bracket)
    }

    private mutating func close(_ bracket: UInt8) {
        buffer.writeInteger(bracket)
        needsComma = true
    }

    /// An array element already encoded as JSON (by another writer).
    package mutating func element(raw json: ByteBuffer) {
        writeCommaIfNeeded()
        var json = json
        buffer.writeBuffer(&json)
        needsComma = true
    }

    /// An object key, named by a `CodingKey` (the key a `Decodable` reads it with); the next call
    /// writes its value.
    package mutating func key(_ name: some CodingKey) {
        string(name.stringValue)
        buffer.writeInteger(UInt8(ascii: ":"))
        // The value follows the colon, not a comma.
        needsComma = false
    }

    package mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { writeQuoted(UnsafeRawBufferPointer($0)) }
    }

    /// A string value from bytes that are valid UTF-8 (checked by the caller).
    package mutating func string(utf8 bytes: some Collection<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { writeQuoted(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { writeQuoted($0) }
        }
    }

    package mutating func number(_ value: UInt64) {
        writeCommaIfNeeded()
        buffer.writeString(String(value))
        needsComma = true
    }

    package mutating func number(_ value: Int) {
        writeCommaIfNeeded()
        buffer.writeString(String(value))
        needsComma = true
    }

    package mutating func bool(_ value: Bool) {
        writeCommaIfNeeded()
        buffer.writeStaticString(value ? "true" : "false")
        needsComma = true
    }

    package mutating func null() {
        writeCommaIfNeeded()
        buffer.writeStaticString("null")
        needsComma = true
    }

    package mutating func field(_ name: some CodingKey, _ value: String) {
        key(name)
        string(value)
    }

    package mutating func field(_ name: some CodingKey, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    package mutating func field(_ name: some CodingKey, _ value: UInt64) {
        key(name)
        number(value)
    }

    package mutating func field(_ name: some CodingKey, _ value: Int) {
        key(name)
        number(value)
    }

    package mutating func field(_ name: some CodingKey, _ value: Bool) {
        key(name)
        bool(value)
    }

    private mutating func writeCommaIfNeeded() {
        if needsComma {
            buffer.writeInteger(UInt8(ascii: ","))
            needsComma = false
        }
    }

    /// Writes a quoted, escaped string: runs of bytes that need no escaping are copied whole.
    private mutating func writeQuoted(_ bytes: UnsafeRawBufferPointer) {
        writeCommaIfNeeded()
        buffer.reserveCapacity(minimumWritableBytes: bytes.count + 2)
        buffer.writeInteger(UInt8(ascii: "\""))
        var runStart = 0
        for (offset, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<offset]))
            writeEscaped(byte)
            runStart = offset + 1
        }
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        buffer.writeInteger(UInt8(ascii: "\""))
        needsComma = true
    }

    private mutating func writeEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
        case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
        case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
        case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
        case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
        default:
            // Other control characters: \u00XX.
            let hexDigits: StaticString = "0123456789abcdef"
            buffer.writeStaticString("\\u00")
            hexDigits.withUTF8Buffer { digits in
                buffer.writeInteger(digits[Int(byte >> 4)])
                buffer.writeInteger(digits[Int(byte & 0x0f)])
            }
        }
    }
}
