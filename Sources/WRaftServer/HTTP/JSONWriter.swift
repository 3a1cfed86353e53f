import Hummingbird

/// Writes JSON straight into a `ByteBuffer`. Every response body of the API is small and of a
/// fixed shape, so writing it by hand is both exact (`null` where API.md says null, no field
/// reordering) and several times cheaper than going through `Codable` on the write path.
///
/// Commas are placed automatically: after a complete value the next key or array element is
/// preceded by one.
struct JSONWriter {
    private(set) var buffer: ByteBuffer
    /// True after a complete value, so the next key or element needs a comma first.
    private var needsComma = false

    init(capacity: Int = 128) {
        buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
    }

    mutating func beginObject() {
        writeCommaIfNeeded()
        buffer.writeInteger(UInt8(ascii: "{"))
    }

    mutating func endObject() {
        buffer.writeInteger(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray() {
        writeCommaIfNeeded()
        buffer.writeInteger(UInt8(ascii: "["))
    }

    mutating func endArray() {
        buffer.writeInteger(UInt8(ascii: "]"))
        needsComma = true
    }

    /// An array element already encoded as JSON (by another writer).
    mutating func element(raw json: ByteBuffer) {
        writeCommaIfNeeded()
        var json = json
        buffer.writeBuffer(&json)
        needsComma = true
    }

    /// An object key; the next call writes its value.
    mutating func key(_ name: StaticString) {
        writeCommaIfNeeded()
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(name)
        buffer.writeStaticString("\":")
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { writeQuoted(UnsafeRawBufferPointer($0)) }
    }

    /// A string value from bytes that are valid UTF-8 (checked by the caller).
    mutating func string(utf8 bytes: some Collection<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { writeQuoted(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { writeQuoted($0) }
        }
    }

    mutating func number(_ value: UInt64) {
        writeCommaIfNeeded()
        buffer.writeString(String(value))
        needsComma = true
    }

    mutating func number(_ value: Int) {
        writeCommaIfNeeded()
        buffer.writeString(String(value))
        needsComma = true
    }

    mutating func bool(_ value: Bool) {
        writeCommaIfNeeded()
        buffer.writeStaticString(value ? "true" : "false")
        needsComma = true
    }

    mutating func null() {
        writeCommaIfNeeded()
        buffer.writeStaticString("null")
        needsComma = true
    }

    mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    mutating func field(_ name: StaticString, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    mutating func field(_ name: StaticString, _ value: UInt64) {
        key(name)
        number(value)
    }

    mutating func field(_ name: StaticString, _ value: Int) {
        key(name)
        number(value)
    }

    mutating func field(_ name: StaticString, _ value: Bool) {
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
