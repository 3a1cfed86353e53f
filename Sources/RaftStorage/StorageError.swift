#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What went wrong with the data dir. All of these come from the world (the disk, the files,
/// the operator), never from a bug; each names the file involved so the message is actionable.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (`errno` as reported).
    case io(operation: String, path: String, errno: Int32)
    /// The data dir cannot be used: missing and not creatable, not a directory, not readable or
    /// writable.
    case unusableDirectory(path: String, reason: String)
    /// A WAL record that is damaged and is not a torn tail (bad data followed by good data, a bad
    /// record in an older segment, a gap in indices, an impossible value). Nothing was modified.
    case corruptRecord(file: String, offset: Int, reason: String)
    /// A snapshot file failed its checksum or does not describe the snapshot the log names.
    case corruptSnapshot(file: String, reason: String)
    /// The identity file is unreadable.
    case corruptIdentity(file: String, reason: String)
    /// An identity value that cannot be stored (an address containing white space, for example).
    case invalidIdentity(reason: String)
    /// The data dir belongs to another cluster than the one this node is asked to serve.
    case foreignCluster(directory: String, expected: UInt64, found: UInt64)
    /// A `StorageOptions` bound is out of range.
    case invalidOptions(String)
    /// An earlier write or fsync failed; the state of the log on disk is unknown, so this storage
    /// refuses all further work. Restart the node (recovery will make sense of the files).
    case failed(reason: String)

    public var description: String {
        switch self {
        case .io(let operation, let path, let errno):
            return "\(operation) \(path): \(errorText(errno)) (errno \(errno))"
        case .unusableDirectory(let path, let reason):
            return "data dir \(path) is unusable: \(reason)"
        case .corruptRecord(let file, let offset, let reason):
            return "corrupt WAL record in \(file) at offset \(offset): \(reason); refusing to start, nothing was modified"
        case .corruptSnapshot(let file, let reason):
            return "corrupt snapshot \(file): \(reason)"
        case .corruptIdentity(let file, let reason):
            return "unreadable node identity \(file): \(reason)"
        case .invalidIdentity(let reason):
            return "invalid node identity: \(reason)"
        case .foreignCluster(let directory, let expected, let found):
            return "data dir \(directory) belongs to cluster \(hex(found)), not \(hex(expected))"
        case .invalidOptions(let why):
            return "invalid storage options: \(why)"
        case .failed(let reason):
            return "storage failed earlier and refuses further work until restart: \(reason)"
        }
    }
}

private func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "unknown error" }
    return String(cString: text)
}

func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
