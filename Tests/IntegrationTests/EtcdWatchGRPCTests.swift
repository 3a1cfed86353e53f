import Foundation
import Testing
import WRaftClient
import WRaftEtcd
import WRaftLauncher

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RealProcessTests {
    /// etcd's Watch service driven request by request with the generated gRPC client (what
    /// etcdctl cannot do): several watches on one stream, cancels, progress requests, history
    /// with `prev_kv` and filters, a compacted start, bad requests, and the bounds.
    @Suite struct EtcdWatchGRPCTests {
        /// The events of `responses`, as "id:KIND@revision:key", per watch id.
        static func eventsByWatch(_ responses: [Etcdserverpb_WatchResponse]) -> [Int64: [String]] {
            var byWatch: [Int64: [String]] = [:]
            for response in responses where !response.events.isEmpty {
                byWatch[response.watchID, default: []] += response.eventSummaries
            }
            return byWatch
        }

        static func eventCount(_ responses: [Etcdserverpb_WatchResponse]) -> Int {
            responses.reduce(0) { $0 + $1.events.count }
        }

        @Test func severalWatchesOnAFollowersStreamWithCancelProgressAndBadRequests() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "etcd-watch-stream", configure: { $0.isEtcdEnabled = true }) {
                cluster in
                let leader = try await cluster.waitForLeader()
                let nodes = await cluster.nodes
                let leaderAddress = try #require(nodes[leader].etcdAddress)
                let followerAddress = try #require(nodes[(leader + 1) % 3].etcdAddress)
                try await EtcdGRPC.withClient(leaderAddress) { writer in
                    try await EtcdGRPC.withClient(followerAddress) { reader in
                        try await EtcdGRPC.withWatchStream(reader) { stream in
                            try await Self.exerciseOneStream(stream, writer: writer, isEtcd: false)
                        }
                    }
                }
            }
        }

        /// The same requests against etcd itself (Debian's etcd-server, 3.4): what the stream
        /// test expects of WRaft is what etcd answers (but for the refusals WRaft adds: a
        /// negative `watch_id` and an unknown filter, which etcd accepts).
        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: EtcdProcess.path), "etcd is not installed (apt-get install etcd-server)"))
        func theSameStreamAgainstEtcdItself() async throws {
            let etcd = try await EtcdProcess.start()
            defer { etcd.stop() }
            try await EtcdGRPC.withClient(NodeAddress(host: "127.0.0.1", port: etcd.clientPort)) { client in
                try await EtcdProcess.waitUntilServing(client)
                try await EtcdGRPC.withWatchStream(client) { stream in
                    try await Self.exerciseOneStream(stream, writer: client, isEtcd: true)
                }
            }
        }

        static func exerciseOneStream(_ stream: WatchStreamDriver, writer: EtcdGRPC.Client, isEtcd: Bool) async throws {
            // Three watches: ids chosen by the server (from 0, as etcd) and one by the client.
            stream.create(key: "a/", rangeEnd: "a0")
            let prefix = try await stream.next()
            #expect(prefix.created && !prefix.canceled && prefix.watchID == 0, "\(prefix.summary)")
            stream.create(key: "b") { $0.watchID = 7 }
            let explicit = try await stream.next()
            #expect(explicit.created && !explicit.canceled && explicit.watchID == 7, "\(explicit.summary)")
            stream.create(key: "a/x") { $0.prevKv = true }
            let single = try await stream.next()
            #expect(single.created && !single.canceled && single.watchID == 1, "\(single.summary)")

            // Each watch receives its own events, in revision order, and only those.
            let r1 = try await EtcdGRPC.put(writer, "a/1", "1").header.revision
            let r2 = try await EtcdGRPC.put(writer, "b", "2").header.revision
            let r3 = try await EtcdGRPC.put(writer, "a/x", "3").header.revision
            let r4 = try await EtcdGRPC.put(writer, "a/x", "4").header.revision
            #expect(r1 < r2 && r2 < r3 && r3 < r4)
            let first = try await stream.collect { Self.eventCount($0) >= 6 }
            let byWatch = Self.eventsByWatch(first)
            #expect(byWatch[0] == ["0:PUT@\(r1):a/1", "0:PUT@\(r3):a/x", "0:PUT@\(r4):a/x"], "\(first.map(\.summary))")
            #expect(byWatch[7] == ["7:PUT@\(r2):b"], "\(first.map(\.summary))")
            #expect(byWatch[1] == ["1:PUT@\(r3):a/x", "1:PUT@\(r4):a/x"], "\(first.map(\.summary))")
            #expect(byWatch.keys.sorted() == [0, 1, 7])
            // prev_kv only where asked for, and only when there was a previous key.
            let singleEvents = first.filter { $0.watchID == 1 }.flatMap(\.events)
            #expect(singleEvents.count == 2 && !singleEvents[0].hasPrevKv)
            #expect(singleEvents.last?.prevKv.value == Data("3".utf8) && singleEvents.last?.prevKv.modRevision == r3)
            #expect(first.filter { $0.watchID == 0 }.flatMap(\.events).allSatisfy { !$0.hasPrevKv })
            #expect(first.allSatisfy { !$0.created && !$0.canceled })

            // A cancel is answered; the canceled watch gets nothing more, the others go on.
            stream.cancel(1)
            let canceled = try await stream.next()
            #expect(canceled.watchID == 1 && canceled.canceled && canceled.events.isEmpty, "\(canceled.summary)")
            let r5 = try await EtcdGRPC.put(writer, "a/x", "5").header.revision
            let r6 = try await EtcdGRPC.put(writer, "b", "6").header.revision
            let second = try await stream.collect { Self.eventCount($0) >= 2 }
            #expect(Self.eventsByWatch(second) == [0: ["0:PUT@\(r5):a/x"], 7: ["7:PUT@\(r6):b"]], "\(second.map(\.summary))")

            // A progress request: one response for the stream (watch_id -1) at the current revision.
            stream.requestProgress()
            let progress = try await stream.next()
            #expect(progress.watchID == -1 && progress.events.isEmpty && !progress.created && !progress.canceled)
            #expect(progress.header.revision == r6, "\(progress.summary)")
            #expect(progress.header.clusterID != 0 && progress.header.memberID != 0 && progress.header.raftTerm != 0)

            // Cancelling an id the stream does not have is not answered (as etcd); the stream
            // goes on: the next response is the next progress request's.
            stream.cancel(999)
            stream.requestProgress()
            let afterUnknownCancel = try await stream.next()
            #expect(afterUnknownCancel.watchID == -1 && !afterUnknownCancel.canceled, "\(afterUnknownCancel.summary)")

            // A watch_id in use: etcd's answer (created, canceled, watch_id -1, its reason); the
            // watch holding the id is untouched.
            stream.create(key: "c") { $0.watchID = 7 }
            let duplicate = try await stream.next()
            #expect(duplicate.created && duplicate.canceled && duplicate.watchID == -1, "\(duplicate.summary)")
            #expect(duplicate.cancelReason.contains("duplicate watch ID"), "\(duplicate.summary)")
            // A range whose end is below its key: refused with etcd's reason.
            stream.create(key: "z", rangeEnd: "a")
            let empty = try await stream.next()
            #expect(empty.created && empty.canceled && empty.cancelReason.contains("watcher range is empty"), "\(empty.summary)")
            if !isEtcd {
                // WRaft also refuses a negative id and an unknown filter (etcd watches anyway).
                stream.create(key: "c") { $0.watchID = -5 }
                let negative = try await stream.next()
                #expect(negative.created && negative.canceled && !negative.cancelReason.isEmpty, "\(negative.summary)")
                stream.create(key: "c") { $0.filters = [.UNRECOGNIZED(9)] }
                let badFilter = try await stream.next()
                #expect(badFilter.created && badFilter.canceled && !badFilter.cancelReason.isEmpty, "\(badFilter.summary)")
            }

            let r7 = try await EtcdGRPC.put(writer, "b", "7").header.revision
            let third = try await stream.collect { Self.eventCount($0) >= 1 }
            #expect(Self.eventsByWatch(third) == [7: ["7:PUT@\(r7):b"]], "\(third.map(\.summary))")
            let rest = try await stream.drain(forMs: 300)
            #expect(rest.isEmpty, "\(rest.map(\.summary))")
        }

        @Test func historyPrevKVFiltersAFutureStartAndACompactedStart() async throws {
            try await ClusterFixture.withCluster(nodes: 1, name: "etcd-watch-history", configure: { $0.isEtcdEnabled = true }) {
                cluster in
                let address = try #require(await cluster.nodes[0].etcdAddress)
                try await EtcdGRPC.withClient(address) { client in try await Self.exerciseHistory(client, isEtcd: false) }
            }
        }

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: EtcdProcess.path), "etcd is not installed (apt-get install etcd-server)"))
        func theSameHistoryAgainstEtcdItself() async throws {
            let etcd = try await EtcdProcess.start()
            defer { etcd.stop() }
            try await EtcdGRPC.withClient(NodeAddress(host: "127.0.0.1", port: etcd.clientPort)) { client in
                try await EtcdProcess.waitUntilServing(client)
                try await Self.exerciseHistory(client, isEtcd: true)
            }
        }

        static func exerciseHistory(_ client: EtcdGRPC.Client, isEtcd: Bool) async throws {
            let r1 = try await EtcdGRPC.put(client, "k", "1").header.revision
            let r2 = try await EtcdGRPC.put(client, "k", "2").header.revision
            let r3 = try await EtcdGRPC.delete(client, "k").header.revision
            let r4 = try await EtcdGRPC.put(client, "other", "x").header.revision
            #expect(r1 < r2 && r2 < r3 && r3 < r4)
            try await EtcdGRPC.withWatchStream(client) { stream in
                // From the first revision: the history, with previous values.
                stream.create(key: "k") {
                    $0.startRevision = r1
                    $0.prevKv = true
                    $0.watchID = 10
                }
                stream.create(key: "k") {
                    $0.startRevision = r1
                    $0.filters = [.noput]
                    $0.watchID = 11
                }
                stream.create(key: "k") {
                    $0.startRevision = r1
                    $0.filters = [.nodelete]
                    $0.watchID = 12
                }
                // From a revision still to come: nothing until it.
                stream.create(key: "k") {
                    $0.startRevision = r4 + 2
                    $0.watchID = 13
                }
                let history = try await stream.collect { Self.eventCount($0) >= 6 && $0.filter(\.created).count == 4 }
                #expect(history.filter(\.created).map(\.watchID).sorted() == [10, 11, 12, 13])
                #expect(history.allSatisfy { !$0.canceled }, "\(history.map(\.summary))")
                let byWatch = Self.eventsByWatch(history)
                #expect(byWatch[10] == ["10:PUT@\(r1):k", "10:PUT@\(r2):k", "10:DELETE@\(r3):k"], "\(history.map(\.summary))")
                #expect(byWatch[11] == ["11:DELETE@\(r3):k"], "\(history.map(\.summary))")
                #expect(byWatch[12] == ["12:PUT@\(r1):k", "12:PUT@\(r2):k"], "\(history.map(\.summary))")
                #expect(byWatch[13] == nil)
                let withPrevious = history.filter { $0.watchID == 10 }.flatMap(\.events)
                #expect(withPrevious.count == 3 && !withPrevious[0].hasPrevKv)
                #expect(withPrevious.count == 3 && withPrevious[1].prevKv.value == Data("1".utf8))
                #expect(withPrevious.count == 3 && withPrevious[2].prevKv.value == Data("2".utf8) && withPrevious[2].kv.modRevision == r3)
                #expect(history.filter { $0.watchID == 11 }.flatMap(\.events).allSatisfy { !$0.hasPrevKv })

                // Live after the history: r5 reaches the unfiltered ones; the future
                // start (r4 + 2 = r6) gets r6 and nothing before it.
                let r5 = try await EtcdGRPC.put(client, "k", "5").header.revision
                let r6 = try await EtcdGRPC.put(client, "k", "6").header.revision
                #expect(r6 == r4 + 2)
                let live = try await stream.collect { Self.eventCount($0) >= 5 }
                #expect(
                    Self.eventsByWatch(live)
                        == [
                            10: ["10:PUT@\(r5):k", "10:PUT@\(r6):k"], 12: ["12:PUT@\(r5):k", "12:PUT@\(r6):k"],
                            13: ["13:PUT@\(r6):k"],
                        ], "\(live.map(\.summary))")
                #expect(try await stream.drain(forMs: 300).isEmpty)
            }

            // A start at or below the compaction revision: created, then canceled with
            // `compact_revision` (etcd's clients turn it into ErrCompacted).
            try await EtcdGRPC.compact(client, through: r2)
            try await EtcdGRPC.withWatchStream(client) { stream in
                stream.create(key: "k") { $0.startRevision = r1 }
                let created = try await stream.next()
                #expect(created.created && !created.canceled, "\(created.summary)")
                let gone = try await stream.next()
                #expect(gone.watchID == created.watchID && gone.canceled && gone.compactRevision == r2, "\(gone.summary)")
                // (etcd's clients derive the error from `compact_revision`; WRaft also says why.)
                if !isEtcd { #expect(gone.cancelReason.contains("required revision has been compacted"), "\(gone.summary)") }
                // Above it, the history is still there.
                stream.create(key: "k") { $0.startRevision = r3 }
                let kept = try await stream.collect { Self.eventCount($0) >= 1 }
                #expect(kept.first?.created == true && kept.allSatisfy { !$0.canceled }, "\(kept.map(\.summary))")
                #expect(kept.flatMap(\.events).first.map { $0.type == .delete && $0.kv.modRevision == r3 } == true)
            }
        }

        @Test func theBoundsOnWatchesPerStreamAndPerNode() async throws {
            let perStream = 1_024
            let perNode = perStream + 6
            try await ClusterFixture.withCluster(
                nodes: 1, name: "etcd-watch-bounds",
                configure: {
                    $0.isEtcdEnabled = true
                    $0.extraArguments += ["--watchers-max", String(perNode)]
                }
            ) { cluster in
                let address = try #require(await cluster.nodes[0].etcdAddress)
                try await EtcdGRPC.withClient(address) { client in
                    try await EtcdGRPC.withWatchStream(client) { full in
                        for index in 0..<perStream { full.create(key: "k\(index)") }
                        let opened = try await full.collect(timeoutMs: 60_000) { $0.count >= perStream }
                        #expect(opened.allSatisfy { $0.created && !$0.canceled })
                        #expect(Set(opened.map(\.watchID)) == Set((0..<perStream).map(Int64.init)))
                        // One more on this stream: refused in one response.
                        full.create(key: "more")
                        let refused = try await full.next()
                        #expect(refused.created && refused.canceled && refused.cancelReason.contains("\(perStream)"), "\(refused.summary)")

                        try await EtcdGRPC.withWatchStream(client) { other in
                            // The node's bound: `--watchers-max` in all.
                            for index in 0..<(perNode - perStream) { other.create(key: "o\(index)") }
                            let rest = try await other.collect { $0.count >= perNode - perStream }
                            #expect(rest.allSatisfy { $0.created && !$0.canceled }, "\(rest.map(\.summary))")
                            other.create(key: "over")
                            let over = try await other.next()
                            #expect(over.created && over.canceled && over.cancelReason.contains("\(perNode)"), "\(over.summary)")
                            // A cancel frees a place.
                            other.cancel(0)
                            #expect(try await other.next().canceled)
                            other.create(key: "again")
                            let again = try await other.next()
                            #expect(again.created && !again.canceled, "\(again.summary)")
                        }
                        // The full stream still delivers.
                        let revision = try await EtcdGRPC.put(client, "k5", "v").header.revision
                        let event = try await full.collect { Self.eventCount($0) >= 1 }
                        #expect(Self.eventsByWatch(event) == [5: ["5:PUT@\(revision):k5"]], "\(event.map(\.summary))")
                    }
                    // A closed stream's watches are gone from the node: a new stream may open
                    // as many again (once the server has seen the stream end).
                    try await EtcdGRPC.withWatchStream(client) { fresh in
                        var firstOpened = false
                        let deadline = ContinuousClock.now + .seconds(10)
                        while !firstOpened, ContinuousClock.now < deadline {
                            fresh.create(key: "f")
                            let answer = try await fresh.next()
                            firstOpened = answer.created && !answer.canceled
                            if !firstOpened { try await Task.sleep(for: .milliseconds(100)) }
                        }
                        #expect(firstOpened)
                        for index in 1..<perStream { fresh.create(key: "f\(index)") }
                        let opened = try await fresh.collect(timeoutMs: 60_000) { $0.count >= perStream - 1 }
                        #expect(opened.allSatisfy { $0.created && !$0.canceled })
                    }
                }
            }
        }
    }
}

/// One etcd member (Debian's etcd-server) on free loopback ports in a folder of its own, for
/// comparing WRaft's answers with etcd's; stopped by its pid.
final class EtcdProcess {
    static let path = "/usr/bin/etcd"

    let clientPort: Int
    private let process: Process
    private let directory: String

    private init(clientPort: Int, process: Process, directory: String) {
        self.clientPort = clientPort
        self.process = process
        self.directory = directory
    }

    static func freePort() throws -> Int {
        let (descriptor, port) = try bindLoopbackSocket(listening: false)
        close(descriptor)
        return port
    }

    static func start() async throws -> EtcdProcess {
        let directory = ClusterFixture.makeDirectory("etcd")
        let clientPort = try freePort()
        let peerPort = try freePort()
        let client = "http://127.0.0.1:\(clientPort)"
        let peer = "http://127.0.0.1:\(peerPort)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = [
            "--name", "e", "--data-dir", directory + "/data", "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "e=\(peer)",
            "--log-level", "error",
        ]
        _ = FileManager.default.createFile(atPath: directory + "/log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/log"))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return EtcdProcess(clientPort: clientPort, process: process, directory: directory)
    }

    /// Returns once a put goes through (at most 20 s).
    static func waitUntilServing(_ client: EtcdGRPC.Client) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while (try? await EtcdGRPC.put(client, "ready", "1")) == nil {
            guard ContinuousClock.now < deadline else { throw FixtureError("etcd did not answer within 20 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// SIGTERM, then SIGKILL after 5 s; the folder goes.
    func stop() {
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
