import NIOCore
import RaftStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An in-memory `Disk` that models what a crash does to files, for tests and simulation.
///
/// Every file has its current bytes and its durable bytes (as of its last `synchronize()`);
/// every directory has its current entries and its durable entries (as of its last
/// `synchronizeDirectory`). `crash(using:)` throws away what was not made durable: each file
/// keeps its durable bytes plus a random prefix of what was appended since (a torn last
/// write), possibly ending in zeros (a size made durable before the data), and each directory
/// goes back to its durable entries (unsynced creates, renames and removes are lost).
///
/// `failAfter(operations:)` makes the disk die (every later change throws `EIO`) after a given
/// number of changes, to stop the storage at every point of a protocol and then `crash`.
///
/// Not thread-safe: one owner, like the storage that uses it.
public final class SimulatedDisk: Disk {
    final class Inode {
        var bytes: [UInt8] = []
        var durableBytes: [UInt8] = []
    }

    final class Directory {
        var entries: [String: Inode] = [:]
        var durableEntries: [String: Inode] = [:]
    }

    private var directories: [String: Directory] = [:]
    private var changesUntilFailure: Int?
    /// The disk has died (see `failAfter(operations:)`): every change throws until `crash`.
    public private(set) var isFailed = false
    /// How many appends, file syncs and directory syncs succeeded so far.
    public private(set) var appendCount = 0
    public private(set) var fileSynchronizationCount = 0
    public private(set) var directorySynchronizationCount = 0

    public init() {}

    // MARK: Fault injection and inspection

    /// After `operations` more successful changes (appends, syncs, renames, removes, creates,
    /// truncates), the next change fails with `EIO` and so does every one after it.
    public func failAfter(operations: Int) {
        precondition(operations >= 0, "SimulatedDisk: a failure countdown is not negative")
        changesUntilFailure = operations
    }

    /// Loses everything not durable, as a power failure would, and revives a failed disk. Each
    /// file keeps a random prefix of its unsynced appends, sometimes ending in zeros.
    public func crash(using generator: inout some RandomNumberGenerator) {
        crash { unsyncedCount in
            let keptCount = Int.random(in: 0...unsyncedCount, using: &generator)
            // Sometimes the size reached the disk before the data: the kept tail reads as zeros.
            let isZeroFilled = keptCount > 0 && Int.random(in: 0..<4, using: &generator) == 0
            let zeroedCount = isZeroFilled ? Int.random(in: 1...keptCount, using: &generator) : 0
            return (keptCount, zeroedCount)
        }
    }

    /// Loses everything not durable and keeps nothing of unsynced appends.
    public func crashLosingUnsyncedData() {
        crash { _ in (0, 0) }
    }

    /// `tear` says, for a file with that many unsynced appended bytes, how many to keep and how
    /// many of those (at the end) read as zeros.
    private func crash(tear: (Int) -> (kept: Int, zeroed: Int)) {
        for directory in directories.values {
            directory.entries = directory.durableEntries
        }
        var seen = Set<ObjectIdentifier>()
        for directory in directories.values {
            for inode in directory.entries.values where seen.insert(ObjectIdentifier(inode)).inserted {
                Self.apply(tear, to: inode)
            }
        }
        isFailed = false
        changesUntilFailure = nil
    }

    private static func apply(_ tear: (Int) -> (kept: Int, zeroed: Int), to inode: Inode) {
        let durable = inode.durableBytes
        guard inode.bytes.count > durable.count, inode.bytes.starts(with: durable) else {
            inode.bytes = durable
            return
        }
        let (keptCount, zeroedCount) = tear(inode.bytes.count - durable.count)
        var kept = Array(inode.bytes[durable.count..<(durable.count + keptCount)])
        for index in (keptCount - zeroedCount)..<keptCount { kept[index] = 0 }
        inode.bytes = durable + kept
        inode.durableBytes = inode.bytes
    }

    /// The current bytes of a file, or nil if there is none.
    public func contents(ofFile path: String) -> [UInt8]? {
        let (parent, name) = split(path)
        return directories[parent]?.entries[name]?.bytes
    }

    /// Replaces a file's bytes, durably (to plant damage as if it had always been there).
    public func replaceContents(ofFile path: String, with bytes: [UInt8]) {
        let (parent, name) = split(path)
        guard let inode = directories[parent]?.entries[name] else {
            preconditionFailure("SimulatedDisk.replaceContents: \(path) exists")
        }
        inode.bytes = bytes
        inode.durableBytes = bytes
    }

    // MARK: Disk

    public func prepareDirectory(atPath path: String) throws(StorageError) {
        if directories[path] == nil {
            try recordChange(operation: "mkdir", path: path)
            directories[path] = Directory()
        }
    }

    /// The simulated disk has no other users, and so no permissions to take away.
    public func restrictToOwner(atPath path: String) throws(StorageError) -> UInt32? {
        nil
    }

    /// The simulated disk belongs to one simulated process: locking always succeeds (a crash
    /// ends the old storage, and tests reopen freely).
    public func lockDirectory(atPath path: String) throws(StorageError) -> any DirectoryLock {
        SimulatedDirectoryLock()
    }

    public func contentsOfDirectory(atPath path: String) throws(StorageError) -> [String] {
        guard let directory = directories[path] else { throw .io(operation: "opendir", path: path, errno: ENOENT) }
        return directory.entries.keys.sorted()
    }

    public func openFile(atPath path: String, mode: FileOpenMode) throws(StorageError) -> any DiskFile {
        let (parent, name) = split(path)
        guard let directory = directories[parent] else { throw .io(operation: "open", path: path, errno: ENOENT) }
        switch mode {
        case .read, .append:
            guard let inode = directory.entries[name] else { throw .io(operation: "open", path: path, errno: ENOENT) }
            return SimulatedFile(disk: self, inode: inode, path: path, isWritable: mode == .append)
        case .create:
            guard directory.entries[name] == nil else { throw .io(operation: "open", path: path, errno: EEXIST) }
            try recordChange(operation: "create", path: path)
            let inode = Inode()
            directory.entries[name] = inode
            return SimulatedFile(disk: self, inode: inode, path: path, isWritable: true)
        }
    }

    public func fileExists(atPath path: String) -> Bool {
        contents(ofFile: path) != nil
    }

    public func rename(from source: String, to destination: String) throws(StorageError) {
        let (sourceParent, sourceName) = split(source)
        let (destinationParent, destinationName) = split(destination)
        guard let from = directories[sourceParent], let inode = from.entries[sourceName],
            let to = directories[destinationParent]
        else { throw .io(operation: "rename", path: source, errno: ENOENT) }
        try recordChange(operation: "rename", path: source)
        from.entries[sourceName] = nil
        to.entries[destinationName] = inode
    }

    public func removeFile(atPath path: String) throws(StorageError) {
        let (parent, name) = split(path)
        guard let directory = directories[parent], directory.entries[name] != nil else { return }
        try recordChange(operation: "unlink", path: path)
        directory.entries[name] = nil
    }

    public func synchronizeDirectory(atPath path: String) throws(StorageError) {
        guard let directory = directories[path] else { throw .io(operation: "fsync directory", path: path, errno: ENOENT) }
        try recordChange(operation: "fsync directory", path: path)
        directory.durableEntries = directory.entries
        directorySynchronizationCount += 1
    }

    // MARK: Internals used by SimulatedFile

    /// Counts one change toward the failure countdown; throws once the disk has died.
    func recordChange(operation: String, path: String) throws(StorageError) {
        if isFailed { throw .io(operation: operation, path: path, errno: EIO) }
        if let remaining = changesUntilFailure {
            if remaining == 0 {
                isFailed = true
                throw .io(operation: operation, path: path, errno: EIO)
            }
            changesUntilFailure = remaining - 1
        }
    }

    func didAppend() { appendCount += 1 }
    func didSynchronizeFile() { fileSynchronizationCount += 1 }

    private func split(_ path: String) -> (parent: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let parent = String(path[..<slash])
        return (parent.isEmpty ? "/" : parent, String(path[path.index(after: slash)...]))
    }
}

final class SimulatedDirectoryLock: DirectoryLock {
    func release() {}
}

/// A file of a `SimulatedDisk`.
final class SimulatedFile: DiskFile {
    let path: String
    private let disk: SimulatedDisk
    private let inode: SimulatedDisk.Inode
    private let isWritable: Bool
    private var isOpen = true

    init(disk: SimulatedDisk, inode: SimulatedDisk.Inode, path: String, isWritable: Bool) {
        self.disk = disk
        self.inode = inode
        self.path = path
        self.isWritable = isWritable
    }

    func size() throws(StorageError) -> Int {
        inode.bytes.count
    }

    func read(fromOffset offset: Int, count: Int) throws(StorageError) -> ByteBuffer {
        precondition(isOpen, "SimulatedFile: read after close")
        let start = min(offset, inode.bytes.count)
        let end = min(offset + count, inode.bytes.count)
        return ByteBuffer(bytes: inode.bytes[start..<end])
    }

    func append(_ bytes: ByteBuffer) throws(StorageError) {
        precondition(isOpen && isWritable, "SimulatedFile: append to a file open for writing")
        try disk.recordChange(operation: "pwrite", path: path)
        inode.bytes.append(contentsOf: bytes.readableBytesView)
        disk.didAppend()
    }

    func synchronize() throws(StorageError) {
        precondition(isOpen, "SimulatedFile: synchronize after close")
        try disk.recordChange(operation: "fdatasync", path: path)
        inode.durableBytes = inode.bytes
        disk.didSynchronizeFile()
    }

    func truncate(toSize size: Int) throws(StorageError) {
        precondition(isOpen && isWritable, "SimulatedFile: truncate a file open for writing")
        try disk.recordChange(operation: "ftruncate", path: path)
        inode.bytes.removeLast(max(0, inode.bytes.count - size))
    }

    func close() {
        isOpen = false
    }
}
