import NIOCore
import RaftCodec
import RaftCore
import WRaftSupport

/// What `runCodecBenchmark` measured, in megabytes (10^6 bytes) of encoding per second.
public struct CodecBenchmarkResult: Sendable, CustomStringConvertible {
    public var entries: Int
    public var entryBytes: Int
    public var encodedBytes: Int
    public var encodeMegabytesPerSecond: Double
    public var decodeMegabytesPerSecond: Double
    public var checksumMegabytesPerSecond: Double

    public var description: String {
        let entriesPerSecond = decodeMegabytesPerSecond * 1_000_000 / Double(max(1, encodedBytes / max(1, entries)))
        return "codec: \(entries) entries of \(entryBytes) B (\(encodedBytes / 1_000_000) MB encoded): "
            + "encode \(Int(encodeMegabytesPerSecond.rounded())) MB/s, decode \(Int(decodeMegabytesPerSecond.rounded())) MB/s "
            + "(\(Int(entriesPerSecond.rounded())) entries/s), CRC32C \(Int(checksumMegabytesPerSecond.rounded())) MB/s"
    }
}

/// Measures encoding and decoding a batch of `entries` entries of `entryBytes` bytes, and
/// CRC-32C over the encoded bytes, each repeated `rounds` times. Wall clock time: run it in a
/// release build.
public func runCodecBenchmark(entries: Int, entryBytes: Int, rounds: Int = 5) -> CodecBenchmarkResult {
    precondition(entries >= 1 && entryBytes >= 0 && rounds >= 1, "runCodecBenchmark: sizes are positive")
    let batch = (0..<UInt64(entries)).map {
        Entry(term: 3, index: LogIndex($0 + 1), data: [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: entryBytes))
    }
    let clock = ContinuousClock()
    var buffer = ByteBufferAllocator().buffer(capacity: entries * (entryBytes + RaftCodec.entryHeaderByteCount) + 8)
    var encoding = Duration.zero
    var decoding = Duration.zero
    var checksumming = Duration.zero
    var checksum: UInt32 = 0
    for _ in 0..<rounds {
        buffer.clear()
        var start = clock.now
        buffer.writeRaftEntries(batch)
        encoding += start.duration(to: clock.now)

        var reader = buffer
        start = clock.now
        let decoded = try? reader.readRaftEntries()
        decoding += start.duration(to: clock.now)
        precondition(decoded?.count == entries, "runCodecBenchmark: the batch decodes")

        start = clock.now
        checksum ^= buffer.withUnsafeReadableBytes { CRC32C.checksum($0) }
        checksumming += start.duration(to: clock.now)
    }
    let megabytes = Double(buffer.readableBytes * rounds) / 1_000_000
    // Keeps the checksum loop from being optimized away.
    precondition(checksum != 0x1234_5678 || megabytes >= 0, "runCodecBenchmark: unreachable")
    return CodecBenchmarkResult(
        entries: entries, entryBytes: entryBytes, encodedBytes: buffer.readableBytes,
        encodeMegabytesPerSecond: megabytes / seconds(encoding),
        decodeMegabytesPerSecond: megabytes / seconds(decoding),
        checksumMegabytesPerSecond: megabytes / seconds(checksumming))
}

private func seconds(_ duration: Duration) -> Double {
    max(1e-9, duration.inSeconds)
}
