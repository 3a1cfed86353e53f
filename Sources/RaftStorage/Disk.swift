import NIOCore

/// All file access of the storage goes through this protocol, so tests can run the real
/// storage code against a simulated disk that tears writes and loses unsynced data
/// (`SimulatedDisk`), and production runs it against `PosixDisk`.
///
/// Paths are absolute or relative file system paths; a directory's entries are bare names.
/// Implementations need not be thread-safe: the storage uses one from one thread at a time.
public protocol Disk: AnyObject {
    /// Creates the directory if it does not exist (its parent must), readable by this user
    /// alone (0700), and checks that it is a directory this process can read and write.
    /// Files are created readable and writable by this user alone (0600).
    func prepareDirectory(atPath path: String) throws(StorageError)
    /// Takes every permission of group and others away from the file or directory at `path`
    /// (0700 for a directory, at most 0600 for a file); returns the mode it had when it gave
    /// any away, nil when there was nothing to take.
    func restrictToOwner(atPath path: String) throws(StorageError) -> UInt32?
    /// Takes the directory for this process alone until the returned lock is released (or the
    /// process exits); throws `StorageError.unusableDirectory` when another process has it.
    func lockDirectory(atPath path: String) throws(StorageError) -> any DirectoryLock
    /// The names of the entries of a directory (no `.` or `..`).
    func contentsOfDirectory(atPath path: String) throws(StorageError) -> [String]
    /// Opens a file. `.create` fails if the file exists.
    func openFile(atPath path: String, mode: FileOpenMode) throws(StorageError) -> any DiskFile
    /// Whether a file exists at `path`.
    func fileExists(atPath path: String) -> Bool
    /// Atomically replaces `destination` with `source` (POSIX `rename`).
    func rename(from source: String, to destination: String) throws(StorageError)
    /// Removes a file; a missing file is not an error.
    func removeFile(atPath path: String) throws(StorageError)
    /// Makes the directory's entries (created, renamed, removed files) durable (`fsync` of the directory).
    func synchronizeDirectory(atPath path: String) throws(StorageError)
}

/// Exclusive use of a data dir, from `Disk.lockDirectory`. Released by `release()` or when the
/// value is deallocated.
public protocol DirectoryLock: AnyObject {
    func release()
}

/// How `Disk.openFile` opens a file.
public enum FileOpenMode: Sendable {
    /// Read only.
    case read
    /// Read and append to an existing file.
    case append
    /// Create a new, empty file for reading and appending; fails if it exists.
    case create
}

/// An open file. Appends go to the end; nothing is durable until `synchronize()` returns.
public protocol DiskFile: AnyObject {
    /// The path the file was opened with.
    var path: String { get }
    /// The file's current size in bytes (including unsynced appends).
    func size() throws(StorageError) -> Int
    /// Reads `count` bytes from `offset`; fewer only when the file ends first.
    func read(fromOffset offset: Int, count: Int) throws(StorageError) -> ByteBuffer
    /// Appends every readable byte of `bytes` at the end of the file.
    func append(_ bytes: ByteBuffer) throws(StorageError)
    /// Makes the file's data (and its size) durable: `fdatasync`.
    func synchronize() throws(StorageError)
    /// Cuts the file to `size` bytes.
    func truncate(toSize size: Int) throws(StorageError)
    /// Closes the file; later calls are bugs.
    func close()
}

extension Disk {
    /// Reads a whole file.
    func readFile(atPath path: String) throws(StorageError) -> ByteBuffer {
        let file = try openFile(atPath: path, mode: .read)
        defer { file.close() }
        return try file.read(fromOffset: 0, count: file.size())
    }

    /// Replaces the file at `path` with `bytes` atomically: a temporary file is written and
    /// synced, renamed over `path`, and the directory synced. A crash leaves either the old
    /// file or the new one, never a mix.
    func writeFileAtomically(_ bytes: ByteBuffer, toPath path: String, directory: String) throws(StorageError) {
        let temporaryPath = path + ".tmp"
        try removeFile(atPath: temporaryPath)
        let file = try openFile(atPath: temporaryPath, mode: .create)
        do {
            try file.append(bytes)
            try file.synchronize()
        } catch {
            file.close()
            throw error
        }
        file.close()
        try rename(from: temporaryPath, to: path)
        try synchronizeDirectory(atPath: directory)
    }
}
