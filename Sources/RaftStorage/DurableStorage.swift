import Logging
import NIOCore
import RaftCore

/// `StorageEngine` behind an actor whose executor is a dedicated NIO event loop: every call
/// runs, and blocks on disk I/O (fsync), on that loop's thread, never on Swift's cooperative
/// thread pool. The server creates one event loop (thread) for storage and hands it in.
///
/// See `StorageEngine` for what each function does and guarantees.
public actor DurableStorage {
    private let engine: StorageEngine
    private let executor: any SerialExecutor

    /// The data dir.
    public nonisolated let directory: String

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    /// Opens the data dir on the real disk; every call then runs on `eventLoop`.
    public init(
        directory: String, eventLoop: any EventLoop, options: StorageOptions = .init(), logger: Logger
    ) throws(StorageError) {
        try self.init(directory: directory, executor: eventLoop.executor, options: options, logger: logger)
    }

    /// Opens the data dir on the real disk; every call then runs on `executor` (which must run
    /// its jobs on a thread where blocking is acceptable).
    public init(
        directory: String, executor: any SerialExecutor, options: StorageOptions = .init(), logger: Logger
    ) throws(StorageError) {
        self.executor = executor
        self.directory = directory
        self.engine = try StorageEngine(directory: directory, disk: PosixDisk(), options: options, logger: logger)
    }

    /// See `StorageEngine.recover()`. Call once, before anything that touches the log.
    public func recover() throws(StorageError) -> PersistentState {
        try engine.recover()
    }

    /// See `StorageEngine.persist(hardState:entries:snapshot:)`: one write, one fsync.
    public func persist(hardState: HardState?, entries: [Entry], snapshot: SnapshotMetadata?) throws(StorageError) {
        try engine.persist(hardState: hardState, entries: entries, snapshot: snapshot)
    }

    /// See `StorageEngine.saveSnapshot(_:data:)`.
    public func saveSnapshot(_ metadata: SnapshotMetadata, data: [UInt8]) throws(StorageError) {
        try engine.saveSnapshot(metadata, data: data)
    }

    /// See `StorageEngine.latestSnapshot()`.
    public func latestSnapshot() throws(StorageError) -> (SnapshotMetadata, [UInt8])? {
        try engine.latestSnapshot()
    }

    /// See `StorageEngine.loadIdentity()`.
    public func loadIdentity() throws(StorageError) -> NodeIdentity? {
        try engine.loadIdentity()
    }

    /// See `StorageEngine.close()`: closes the files and unlocks the data dir.
    public func close() {
        engine.close()
    }

    /// See `StorageEngine.saveIdentity(_:)`.
    public func saveIdentity(_ identity: NodeIdentity) throws(StorageError) {
        try engine.saveIdentity(identity)
    }
}
