import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The real disk: POSIX `open`/`pread`/`pwrite`/`fdatasync`/`rename`/`fsync` of directories.
/// Stateless, so one value may be shared.
public final class PosixDisk: Disk, Sendable {
    public init() {}

    public func prepareDirectory(atPath path: String) throws(StorageError) {
        // Issue 8, finding 5: values, votes and identities are nobody else's business.
        if mkdir(path, 0o700) != 0 {
            let code = errno
            guard code == EEXIST else {
                throw .unusableDirectory(path: path, reason: "cannot create it: \(StorageError.io(operation: "mkdir", path: path, errno: code))")
            }
        }
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw .unusableDirectory(path: path, reason: "cannot stat it (errno \(errno))")
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else {
            throw .unusableDirectory(path: path, reason: "not a directory")
        }
        guard access(path, R_OK | W_OK | X_OK) == 0 else {
            throw .unusableDirectory(path: path, reason: "no read, write and search permission for this process")
        }
    }

    /// A POSIX record lock (`fcntl(F_SETLK)`) on a `LOCK` file in the directory: two node
    /// processes never write one data dir at once. The lock belongs to the process, so storages
    /// opened one after another inside one process (tests simulating a restart) are not refused;
    /// the process's lock ends when it exits or closes any descriptor of the file.
    public func lockDirectory(atPath path: String) throws(StorageError) -> any DirectoryLock {
        let lockPath = path + "/LOCK"
        let descriptor = retryingOnInterrupt { open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        guard descriptor >= 0 else { throw .io(operation: "open", path: lockPath, errno: errno) }
        var request = wholeFileWriteLock()
        guard retryingOnInterrupt({ fcntl(descriptor, F_SETLK, &request) }) == 0 else {
            let code = errno
            _ = systemClose(descriptor)
            guard code == EAGAIN || code == EACCES else { throw .io(operation: "fcntl(F_SETLK)", path: lockPath, errno: code) }
            throw .unusableDirectory(
                path: path, reason: "it is in use by another node process (\(lockPath) is locked); two nodes cannot share a data dir")
        }
        return PosixDirectoryLock(descriptor: descriptor)
    }

    public func restrictToOwner(atPath path: String) throws(StorageError) -> UInt32? {
        var status = stat()
        // lstat: a symbolic link is reported, never followed to something outside the dir.
        guard lstat(path, &status) == 0 else {
            // Gone since the directory was listed (a temporary file renamed or removed): nothing to do.
            if errno == ENOENT { return nil }
            throw .io(operation: "lstat", path: path, errno: errno)
        }
        let mode = UInt32(status.st_mode) & 0o7777
        guard mode & 0o077 != 0 else { return nil }
        let fileType = UInt32(status.st_mode) & UInt32(S_IFMT)
        guard fileType == UInt32(S_IFDIR) || fileType == UInt32(S_IFREG) else { return nil }
        let restricted = fileType == UInt32(S_IFDIR) ? 0o700 : mode & 0o600
        guard chmod(path, mode_t(restricted)) == 0 else {
            if errno == ENOENT { return nil }
            throw .io(operation: "chmod", path: path, errno: errno)
        }
        return mode
    }

    public func contentsOfDirectory(atPath path: String) throws(StorageError) -> [String] {
        guard let directory = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func openFile(atPath path: String, mode: FileOpenMode) throws(StorageError) -> any DiskFile {
        let flags: Int32
        switch mode {
        case .read: flags = O_RDONLY
        case .append: flags = O_RDWR
        case .create: flags = O_RDWR | O_CREAT | O_EXCL
        }
        let descriptor = retryingOnInterrupt { open(path, flags | O_CLOEXEC, 0o600) }
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        return try PosixFile(descriptor: descriptor, path: path)
    }

    public func fileExists(atPath path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func rename(from source: String, to destination: String) throws(StorageError) {
        guard systemRename(source, destination) == 0 else { throw .io(operation: "rename to \(destination)", path: source, errno: errno) }
    }

    public func removeFile(atPath path: String) throws(StorageError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .io(operation: "unlink", path: path, errno: errno) }
    }

    public func synchronizeDirectory(atPath path: String) throws(StorageError) {
        let descriptor = retryingOnInterrupt { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw .io(operation: "open directory", path: path, errno: errno) }
        defer { _ = systemClose(descriptor) }
        guard retryingOnInterrupt({ fsync(descriptor) }) == 0 else {
            throw .io(operation: "fsync directory", path: path, errno: errno)
        }
    }
}

/// An exclusive lock request on a whole file, for `fcntl(F_SETLK)`.
func wholeFileWriteLock() -> flock {
    var request = flock()
    request.l_type = Int16(F_WRLCK)
    request.l_whence = Int16(SEEK_SET)
    request.l_start = 0
    request.l_len = 0
    return request
}

/// An open, locked LOCK file; closing it releases the lock.
final class PosixDirectoryLock: DirectoryLock {
    private var descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        release()
    }

    func release() {
        if descriptor >= 0 { _ = systemClose(descriptor) }
        descriptor = -1
    }
}

/// A file opened by `PosixDisk`. Appends use `pwrite` at the tracked end of the file.
final class PosixFile: DiskFile {
    let path: String
    private var descriptor: Int32
    private var endOffset: Int

    init(descriptor: Int32, path: String) throws(StorageError) {
        self.descriptor = descriptor
        self.path = path
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            _ = systemClose(descriptor)
            throw .io(operation: "fstat", path: path, errno: code)
        }
        self.endOffset = Int(status.st_size)
    }

    deinit {
        if descriptor >= 0 { _ = systemClose(descriptor) }
    }

    func size() throws(StorageError) -> Int {
        endOffset
    }

    func read(fromOffset offset: Int, count: Int) throws(StorageError) -> ByteBuffer {
        precondition(descriptor >= 0, "PosixFile: read after close")
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var done = 0
        while done < count {
            let result = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { bytes in
                retryingOnInterrupt { pread(descriptor, bytes.baseAddress, count - done, off_t(offset + done)) }
            }
            guard result >= 0 else { throw .io(operation: "pread", path: path, errno: errno) }
            if result == 0 { break }  // end of file
            done += result
        }
        return buffer
    }

    func append(_ bytes: ByteBuffer) throws(StorageError) {
        precondition(descriptor >= 0, "PosixFile: append after close")
        var written = 0
        let total = bytes.readableBytes
        while written < total {
            let result = bytes.withUnsafeReadableBytes { pointer -> Int in
                guard let base = pointer.baseAddress else { return 0 }
                return retryingOnInterrupt {
                    pwrite(descriptor, base + written, total - written, off_t(endOffset + written))
                }
            }
            guard result > 0 else { throw .io(operation: "pwrite", path: path, errno: result == 0 ? EIO : errno) }
            written += result
        }
        endOffset += total
    }

    func synchronize() throws(StorageError) {
        precondition(descriptor >= 0, "PosixFile: synchronize after close")
        #if canImport(Darwin)
            let result = retryingOnInterrupt { fcntl(descriptor, F_FULLFSYNC) }
        #else
            let result = retryingOnInterrupt { fdatasync(descriptor) }
        #endif
        guard result == 0 else { throw .io(operation: "fdatasync", path: path, errno: errno) }
    }

    func truncate(toSize size: Int) throws(StorageError) {
        precondition(descriptor >= 0, "PosixFile: truncate after close")
        guard retryingOnInterrupt({ ftruncate(descriptor, off_t(size)) }) == 0 else {
            throw .io(operation: "ftruncate", path: path, errno: errno)
        }
        endOffset = size
    }

    func close() {
        if descriptor >= 0 { _ = systemClose(descriptor) }
        descriptor = -1
    }
}

/// Repeats a system call that failed with `EINTR` (a signal arrived before it did anything).
private func retryingOnInterrupt<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}

#if canImport(Glibc)
    private func systemClose(_ descriptor: Int32) -> Int32 { Glibc.close(descriptor) }
    private func systemRename(_ source: String, _ destination: String) -> Int32 { Glibc.rename(source, destination) }
#elseif canImport(Musl)
    private func systemClose(_ descriptor: Int32) -> Int32 { Musl.close(descriptor) }
    private func systemRename(_ source: String, _ destination: String) -> Int32 { Musl.rename(source, destination) }
#else
    private func systemClose(_ descriptor: Int32) -> Int32 { Darwin.close(descriptor) }
    private func systemRename(_ source: String, _ destination: String) -> Int32 { Darwin.rename(source, destination) }
#endif
