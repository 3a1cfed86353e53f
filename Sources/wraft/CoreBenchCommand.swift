import ArgumentParser
import RaftSimulation

struct CoreBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "The Raft core alone: simulated nodes, in-memory storage, an instant network.",
        discussion: """
            Measures entries committed per second by the pure Raft core, with the leader proposing \
            in batches of each given size. Wall-clock time: build with `swift build -c release` \
            for meaningful numbers.
            Example:
              wraft bench core --batch-sizes 1,64 --entries 1000000
            """)

    static let entriesRange = 1...100_000_000
    static let batchSizeRange = 1...65_536

    @Option(help: "Simulated nodes (1...7).") var nodes: Int = 3
    @Option(help: "Batch sizes to measure, comma-separated (\(batchSizeRange)).") var batchSizes: String = "1,64"
    @Option(help: "Entries to commit per measurement (\(entriesRange)).") var entries: Int = 200_000
    @Option(help: "Bytes per command.") var payloadBytes: Int = 16

    func validate() throws {
        guard (1...7).contains(nodes) else { throw ValidationError("--nodes must be in 1...7") }
        guard Self.entriesRange.contains(entries) else { throw ValidationError("--entries must be in \(Self.entriesRange)") }
        guard (0...(1 << 20)).contains(payloadBytes) else { throw ValidationError("--payload-bytes must be in 0...1048576") }
        _ = try parsedBatchSizes()
    }

    func parsedBatchSizes() throws -> [Int] {
        let sizes = batchSizes.split(separator: ",").compactMap { Int($0) }
        guard !sizes.isEmpty, sizes.count == batchSizes.split(separator: ",").count,
            sizes.allSatisfy({ Self.batchSizeRange.contains($0) })
        else { throw ValidationError("--batch-sizes must be a comma-separated list of sizes in \(Self.batchSizeRange)") }
        return sizes
    }

    func run() async throws {
        #if DEBUG
        print("(debug build: numbers are far below a release build's)")
        #endif
        for batchSize in try parsedBatchSizes() {
            print(runCoreBenchmark(nodes: nodes, batchSize: batchSize, entries: entries, payloadBytes: payloadBytes))
        }
    }
}
