import Dispatch
import RaftCore
import RaftStorage
import Testing
import WRaftBenchmarks

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs an actor's jobs on one dispatch queue (a stand-in for the server's storage event loop).
final class QueueExecutor: SerialExecutor {
    let queue = DispatchQueue(label: "wraft.storage-test")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }
}

/// The same storage on real files in a temporary directory, through POSIX.
@Suite struct RealDiskTests {
    @Test func persistRotateSnapshotAndRecoverOnRealFiles() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let options = StorageOptions(segmentBytesMax: 4096)
        let engine = try StorageEngine(directory: directory, options: options, logger: quietLogger)
        _ = try engine.recover()
        for batch in 0..<30 {
            let first = UInt64(batch * 4 + 1)
            try engine.persist(
                hardState: HardState(term: 3, votedFor: 2, commit: LogIndex(first + 3)),
                entries: makeEntries(first...(first + 3), term: 3, dataBytes: 60), snapshot: nil)
        }
        #expect(try segmentNames(PosixDisk(), directory: directory).count >= 3)
        let metadata = SnapshotMetadata(index: 100, term: 3, membership: Membership(voters: [1, 2, 3]))
        try engine.saveSnapshot(metadata, data: Array(repeating: 7, count: 10_000))
        engine.close()

        let reopened = try StorageEngine(directory: directory, options: options, logger: quietLogger)
        let state = try reopened.recover()
        #expect(state.snapshot == metadata)
        #expect(state.entries == makeEntries(101...120, term: 3, dataBytes: 60))
        #expect(state.hardState == HardState(term: 3, votedFor: 2, commit: 120))
        #expect(try reopened.latestSnapshot()?.1 == Array(repeating: 7, count: 10_000))
    }

    @Test func tornTailOnRealFilesIsCut() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let engine = try StorageEngine(directory: directory, logger: quietLogger)
        _ = try engine.recover()
        try engine.persist(hardState: HardState(term: 1, commit: 2), entries: makeEntries(1...2, term: 1), snapshot: nil)
        try engine.persist(hardState: nil, entries: makeEntries(3...4, term: 1), snapshot: nil)
        let segment = directory + "/" + (try #require(try segmentNames(PosixDisk(), directory: directory).first))
        var status = stat()
        #expect(stat(segment, &status) == 0)
        #expect(truncate(segment, status.st_size - 5) == 0)
        engine.close()

        let reopened = try StorageEngine(directory: directory, logger: quietLogger)
        let state = try reopened.recover()
        #expect(state.entries == makeEntries(1...2, term: 1))
        try reopened.persist(hardState: nil, entries: makeEntries(3...3, term: 1), snapshot: nil)
        reopened.close()
        let again = try StorageEngine(directory: directory, logger: quietLogger).recover()
        #expect(again.entries == makeEntries(1...3, term: 1))
    }

    @Test func unusableDirectoriesAreRefused() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let plainFile = directory + "/not-a-directory"
        let descriptor = open(plainFile, O_CREAT | O_WRONLY, 0o644)
        #expect(descriptor >= 0)
        close(descriptor)
        #expect {
            _ = try StorageEngine(directory: plainFile, logger: quietLogger)
        } throws: { error in
            guard case .unusableDirectory(let path, _) = error as? StorageError else { return false }
            return path == plainFile
        }
        #expect {
            _ = try StorageEngine(directory: directory + "/missing/parent", logger: quietLogger)
        } throws: { error in
            guard case .unusableDirectory = error as? StorageError else { return false }
            return true
        }
    }

    /// One data dir, one node process: another process cannot take the lock while this one
    /// holds it, and can once it is closed. (A forked child tries, using only system calls.)
    @Test func dataDirectoryIsLockedAgainstOtherProcesses() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let first = try StorageEngine(directory: directory, logger: quietLogger)
        #expect(try childProcessCanLock(directory + "/LOCK") == false)
        first.close()
        #expect(throws: StorageError.self) { try first.loadIdentity() }
        #expect(try childProcessCanLock(directory + "/LOCK") == true)
        let second = try StorageEngine(directory: directory, logger: quietLogger)
        #expect(try second.loadIdentity() == nil)
    }

    /// Forks a child that tries to lock `path` the way `PosixDisk` does and exits with 0 when
    /// it could, 1 when another process holds it.
    private func childProcessCanLock(_ path: String) throws -> Bool {
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        let status = path.withCString { cPath -> Int32 in
            let child = fork()
            if child == 0 {
                // Only async-signal-safe calls between fork and _exit.
                let descriptor = open(cPath, O_RDWR)
                _exit(descriptor >= 0 && fcntl(descriptor, F_SETLK, &request) == 0 ? 0 : 1)
            }
            var status: Int32 = 0
            guard child > 0, waitpid(child, &status, 0) == child else { return -1 }
            return status
        }
        try #require(status >= 0, "fork or waitpid failed")
        return status == 0
    }

    @Test func identityOnRealFiles() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let engine = try StorageEngine(directory: directory, logger: quietLogger)
        #expect(try engine.loadIdentity() == nil)
        let identity = NodeIdentity(nodeID: NodeID(0x0123_4567_89AB_CDEF), clusterID: 42, raftAddress: "127.0.0.1:10002")
        try engine.saveIdentity(identity)
        engine.close()
        #expect(try StorageEngine(directory: directory, logger: quietLogger).loadIdentity() == identity)
        #expect(!PosixDisk().fileExists(atPath: directory + "/identity.tmp"))
    }

    /// The actor runs the engine on the executor it is given.
    @Test func durableStorageActorRoundTrip() async throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let executor = QueueExecutor()
        let storage = try DurableStorage(directory: directory, executor: executor, logger: quietLogger)
        #expect(try await storage.recover().isSame(as: PersistentState()))
        try await storage.persist(hardState: HardState(term: 2, commit: 3), entries: makeEntries(1...3, term: 2), snapshot: nil)
        let metadata = SnapshotMetadata(index: 2, term: 2, membership: Membership(voters: [1]))
        try await storage.saveSnapshot(metadata, data: [9, 9])
        try await storage.saveIdentity(NodeIdentity(nodeID: 1, clusterID: 2))
        #expect(try await storage.latestSnapshot()?.0 == metadata)
        #expect(try await storage.loadIdentity() == NodeIdentity(nodeID: 1, clusterID: 2))
        await storage.close()

        let reopened = try DurableStorage(directory: directory, executor: executor, logger: quietLogger)
        let state = try await reopened.recover()
        #expect(state.snapshot == metadata)
        #expect(state.entries == makeEntries(3...3, term: 2))
    }
}

@Suite struct BenchmarkFunctionTests {
    /// The benchmark writes what it says and its log recovers (numbers themselves are for a
    /// release build, not for tests).
    @Test func storageBenchmarkWritesARecoverableLog() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let result = try runStorageBenchmark(
            directory: directory, batches: 20, entriesPerBatch: 8, entryBytes: 100, logger: quietLogger)
        #expect(result.batches == 20)
        #expect(result.walBytes > 20 * 8 * 100)
        #expect(result.batchesPerSecond > 0)
        #expect(result.persistMillisecondsP99 >= result.persistMillisecondsMedian)
        let state = try StorageEngine(directory: directory, logger: quietLogger).recover()
        #expect(state.entries.count == 160)
        #expect(state.hardState.commit == 160)
        #expect(result.description.contains("batches/s"))
    }
}
