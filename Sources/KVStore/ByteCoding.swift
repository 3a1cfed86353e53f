import WRaftSupport

/// The reader of KVStore's formats: WRaftSupport's `ByteReader`, throwing `KVCodecError`.
typealias KVByteReader = ByteReader<KVCodecError>

// KVCodecError's cases `truncated`, `lengthOutOfBounds` and `trailingBytes` are exactly what
// the shared reader throws.
extension KVCodecError: ByteDecodingError {}
