import Testing
import Logging
import NIOCore
import RaftCore
import RaftStorage
import RaftStorageTesting
import Synchronization
import WRaftSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How many seeds a randomized test runs: `WRAFT_TEST_SEEDS` from the environment, or `defaultCount`.
func seedCount(default defaultCount: Int) -> Int {
    guard let value = getenv("WRAFT_TEST_SEEDS"), let count = Int(String(cString: value)), count > 0 else {
        return defaultCount
    }
    return count
}

/// Log lines captured by `RecordingLogHandler`.
final class LogRecorder: Sendable {
    private let lines = Mutex<[(level: Logger.Level, message: String)]>([])

    var messages: [(level: Logger.Level, message: String)] { lines.withLock { $0 } }

    func append(_ level: Logger.Level, _ message: String) {
        lines.withLock { $0.append((level, message)) }
    }

    func makeLogger() -> Logger {
        Logger(label: "storage-test") { _ in RecordingLogHandler(recorder: self) }
    }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.append(event.level, "\(event.message)")
    }
}

/// A logger that drops everything.
let quietLogger = Logger(label: "storage-test") { _ in SwiftLogNoOpLogHandler() }

/// Entries `first...last` in `term`, each carrying a few bytes that identify it.
func makeEntries(_ range: ClosedRange<UInt64>, term: UInt64, dataBytes: Int = 8) -> [Entry] {
    range.map { index in
        Entry(
            term: Term(term), index: LogIndex(index), kind: .command,
            data: (0..<dataBytes).map { UInt8(truncatingIfNeeded: index &+ UInt64($0) &* 31 &+ term) })
    }
}

let testDirectory = "/data"

/// A fresh engine on `disk`'s `testDirectory`, recovered.
func openRecovered(
    _ disk: SimulatedDisk, options: StorageOptions = .init(), logger: Logger = quietLogger
) throws -> (StorageEngine, PersistentState) {
    let engine = try StorageEngine(directory: testDirectory, disk: disk, options: options, logger: logger)
    let state = try engine.recover()
    return (engine, state)
}

/// A new empty directory under /tmp, removed (with its files) by `removeTemporaryDirectory`.
func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/wraft-storage-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
        guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
        return String(cString: result)
    }
    return try #require(path, "mkdtemp failed")
}

func removeTemporaryDirectory(_ path: String) {
    let disk = PosixDisk()
    for name in (try? disk.contentsOfDirectory(atPath: path)) ?? [] {
        let child = path + "/" + name
        if rmdir(child) != 0 {
            for grandchild in (try? disk.contentsOfDirectory(atPath: child)) ?? [] {
                unlink(child + "/" + grandchild)
            }
            rmdir(child)
            unlink(child)
        }
    }
    rmdir(path)
}

/// Every file of the simulated data dir and its bytes.
func snapshotOfFiles(_ disk: SimulatedDisk) throws -> [String: [UInt8]] {
    var files: [String: [UInt8]] = [:]
    for name in try disk.contentsOfDirectory(atPath: testDirectory) {
        files[name] = disk.contents(ofFile: testDirectory + "/" + name)
    }
    return files
}

func segmentNames(_ disk: any Disk, directory: String = testDirectory) throws -> [String] {
    try disk.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("wal-") }.sorted()
}

extension PersistentState {
    /// Field-by-field equality (PersistentState itself is not Equatable).
    func isSame(as other: PersistentState) -> Bool {
        hardState == other.hardState && snapshot == other.snapshot && entries == other.entries
    }
}

