import Foundation
import Testing
import WRaftClient
import WRaftLauncher

extension RealProcessTests {
    /// Issue 3: a torn WAL tail recovers; corruption in the middle is refused, clearly, and the
    /// data dir is left as it was.
    @Suite struct StorageRecoveryTests {
        @Test func aTornWALTailRecoversAndTheNodeCatchesUp() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "torn") { cluster in
                let clients = await cluster.clients
                let leader = try await cluster.waitForLeader()
                var lastIndex: UInt64 = 0
                for number in 0..<20 {
                    lastIndex = try await clients[leader].put("torn/\(number)", "value \(number)").index
                }
                let victim = (leader + 1) % 3
                #expect(await cluster.waitForApplied(lastIndex, on: [victim]))
                try await cluster.kill(victim, signal: SIGKILL)

                let segment = try #require(try WALFiles.segments(in: await cluster.nodes[victim].dataDirectory).last)
                let records = try WALFiles.records(of: segment)
                let last = try #require(records.last, "the newest segment has records")
                #expect(records.count > 1)
                // A crash in the middle of appending a record leaves its first bytes only. Such a
                // write was never acknowledged (the fsync did not return), so the tail is a copy
                // of the last record cut short: a plausible header, a payload that ends early.
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
                try WALFiles.append(Array(bytes[last.start..<(last.end - 3)]), to: segment, at: last.end)

                try await cluster.restart(victim)
                let recovered = await eventually(timeoutMs: 10_000) {
                    guard let state = try? await clients[victim].state() else { return false }
                    return state.status == "running" && state.appliedIndex >= lastIndex
                }
                #expect(recovered, "the node recovered and caught up")
                let segmentName = URL(fileURLWithPath: segment).lastPathComponent
                #expect(await cluster.logTail(victim, bytesMax: 20_000).contains(segmentName), "the cut is logged, naming the file")
                for number in [0, 10, 19] {
                    #expect(try await clients[victim].get("torn/\(number)", consistency: .local)?.text == "value \(number)")
                }
                let after = try await clients[victim].put("torn/after", "ok")
                #expect(await cluster.waitForApplied(after.index))
            }
        }

        @Test func corruptionInTheMiddleOfTheWALIsRefusedAndTheDataDirIsLeftAsItWas() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "corrupt") { cluster in
                let clients = await cluster.clients
                let leader = try await cluster.waitForLeader()
                var lastIndex: UInt64 = 0
                for number in 0..<20 {
                    lastIndex = try await clients[leader].put("corrupt/\(number)", "value \(number)").index
                }
                let victim = (leader + 1) % 3
                #expect(await cluster.waitForApplied(lastIndex, on: [victim]))
                try await cluster.kill(victim, signal: SIGKILL)

                let dataDirectory = await cluster.nodes[victim].dataDirectory
                let segment = try #require(try WALFiles.segments(in: dataDirectory).first)
                let records = try WALFiles.records(of: segment)
                #expect(records.count >= 4)
                let damaged = records[records.count / 2]
                try WALFiles.flipByte(in: segment, at: damaged.payloadStart + (damaged.end - damaged.payloadStart) / 2)
                let before = try WALFiles.fingerprint(of: dataDirectory)

                let error = await #expect(throws: LocalClusterError.self) { try await cluster.restart(victim) }
                guard case .nodeExited(_, let status, _)? = error else {
                    Issue.record("expected the node to exit, got \(String(describing: error))")
                    return
                }
                #expect(status != 0)
                let log = await cluster.logTail(victim, bytesMax: 4_000)
                let segmentName = URL(fileURLWithPath: segment).lastPathComponent
                #expect(log.contains(segmentName), "the message names the file: \(log.suffix(600))")
                #expect(log.lowercased().contains("offset"), "the message names the offset: \(log.suffix(600))")
                #expect(try WALFiles.fingerprint(of: dataDirectory) == before, "the data dir is untouched")

                // The other two still serve.
                let survivors = [0, 1, 2].filter { $0 != victim }
                _ = try await cluster.waitForLeader(among: survivors, timeoutMs: 10_000)
                try await clients[survivors[0]].put("corrupt/after", "ok")
            }
        }
    }
}

/// Reading and damaging WAL segment files (`wal-<16 hex>.log`: records of
/// `[length u32][crc32c u32][type u8][payload]`, big-endian, type never 0).
enum WALFiles {
    struct Record {
        var start: Int
        var payloadStart: Int
        var end: Int
    }

    /// Segment files anywhere under the data dir, oldest first.
    static func segments(in directory: String) throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: directory)
        var found: [String] = []
        while let relative = enumerator?.nextObject() as? String {
            let name = URL(fileURLWithPath: relative).lastPathComponent
            if name.hasPrefix("wal-") && name.hasSuffix(".log") {
                found.append((directory as NSString).appendingPathComponent(relative))
            }
        }
        guard !found.isEmpty else { throw FixtureError("no WAL segment under \(directory)") }
        return found.sorted { URL(fileURLWithPath: $0).lastPathComponent < URL(fileURLWithPath: $1).lastPathComponent }
    }

    /// The well-formed records of a segment, up to the first zero or impossible length.
    static func records(of path: String) throws -> [Record] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var records: [Record] = []
        var offset = 0
        while offset + 9 <= bytes.count {
            let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = bytes[offset + 8]
            let end = offset + 9 + length
            guard type != 0, end <= bytes.count else { break }
            records.append(Record(start: offset, payloadStart: offset + 9, end: end))
            offset = end
        }
        return records
    }

    /// Writes `bytes` at `offset` (the end of the last record) and cuts the file there.
    static func append(_ bytes: [UInt8], to path: String, at offset: Int) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(offset))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
    }

    static func flipByte(in path: String, at offset: Int) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[offset] ^= 0x5A
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Every file's relative path, size and bytes, to compare a folder before and after.
    static func fingerprint(of directory: String) throws -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            let path = (directory as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[relative] = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            }
        }
        return result
    }
}
