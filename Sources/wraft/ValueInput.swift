import Foundation
import KVStore

/// Where `put` takes its value from: the argument as is, standard input (`-`), or a file
/// (`@PATH`). Read with a bound: at most `bytesMax + 1` bytes, so a larger input is refused
/// without being read whole.
enum ValueInput: Equatable {
    case literal(String)
    case standardInput
    case file(String)

    /// The node's bound on a value (`413 value_too_large` beyond it).
    static let bytesMax = KVCommand.valueBytesMax
    /// Bytes asked of the file or pipe per read.
    static let chunkBytes = 64 * 1024

    /// `-` is standard input, `@PATH` a file; anything else, or everything with `literal`, is the
    /// value itself.
    init(argument: String, literal: Bool) {
        if literal {
            self = .literal(argument)
        } else if argument == "-" {
            self = .standardInput
        } else if argument.hasPrefix("@") {
            self = .file(String(argument.dropFirst()))
        } else {
            self = .literal(argument)
        }
    }

    /// The value's bytes. Throws a `ClientFailure`: `refused` (8) for a value over `bytesMax`
    /// bytes, `usage` (64) for a file that cannot be read.
    func read(bytesMax: Int = ValueInput.bytesMax) throws(ClientFailure) -> [UInt8] {
        switch self {
        case .literal(let text):
            let bytes = Array(text.utf8)
            guard bytes.count <= bytesMax else { throw Self.tooLarge("the value", bytesMax: bytesMax) }
            return bytes
        case .standardInput:
            return try Self.readBounded(FileHandle.standardInput, what: "standard input", bytesMax: bytesMax)
        case .file(let path):
            guard !path.isEmpty else { throw ClientFailure(.usage, "@ needs a file name: @PATH (or --literal for a value starting with @)") }
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw ClientFailure(.usage, "cannot read \(path) (@PATH reads the value from a file; --literal takes '@\(path)' as the value)")
            }
            defer { try? handle.close() }
            return try Self.readBounded(handle, what: path, bytesMax: bytesMax)
        }
    }

    private static func readBounded(_ handle: FileHandle, what: String, bytesMax: Int) throws(ClientFailure) -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count <= bytesMax {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: min(chunkBytes, bytesMax + 1 - bytes.count))
            } catch {
                throw ClientFailure(.usage, "cannot read \(what): \(error)")
            }
            guard let chunk, !chunk.isEmpty else { return bytes }
            bytes.append(contentsOf: chunk)
        }
        throw tooLarge(what, bytesMax: bytesMax)
    }

    private static func tooLarge(_ what: String, bytesMax: Int) -> ClientFailure {
        ClientFailure(.refused, "\(what) is larger than a node takes (\(bytesMax) bytes); nothing was sent")
    }
}
