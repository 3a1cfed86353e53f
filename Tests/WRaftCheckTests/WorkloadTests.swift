import Linearizability
import Testing
import WRaftAPI
import WRaftClient

import WRaftCheck
import WRaftSupport

@Suite struct WorkloadTests {
    @Test func deterministicPerSeedAndProcess() {
        var first = Workload(process: 3, keys: ["a", "b"], nodeCount: 3, seed: 9)
        var second = Workload(process: 3, keys: ["a", "b"], nodeCount: 3, seed: 9)
        var other = Workload(process: 4, keys: ["a", "b"], nodeCount: 3, seed: 9)
        let a = (0..<50).map { _ in first.next() }
        let b = (0..<50).map { _ in second.next() }
        let c = (0..<50).map { _ in other.next() }
        #expect(a == b)
        #expect(a != c)
    }

    @Test func writtenValuesAreUniqueAcrossClients() {
        var values: [String] = []
        for process in 0..<5 {
            var workload = Workload(process: process, keys: ["a", "b", "c"], nodeCount: 5, seed: 1)
            for _ in 0..<400 {
                let operation = workload.next()
                #expect(["a", "b", "c"].contains(operation.key) && (0..<5).contains(operation.node))
                if let value = operation.value { values.append(value) }
            }
        }
        #expect(Set(values).count == values.count)
        #expect(values.count > 1_000)
    }

    @Test func mixHasEveryKind() {
        var workload = Workload(process: 0, keys: ["k"], nodeCount: 1, seed: 2)
        var counts: [HistoryOperation.Kind: Int] = [:]
        for _ in 0..<1_000 { counts[workload.next().kind, default: 0] += 1 }
        #expect((300...500).contains(counts[.read] ?? 0))
        #expect((250...450).contains(counts[.write] ?? 0))
        #expect((150...350).contains(counts[.cas] ?? 0))
    }

    /// A CAS expects what the client last saw: absent first, then what it read or wrote.
    @Test func compareAndSetExpectsTheLastValueSeen() {
        var workload = Workload(process: 0, keys: ["k"], nodeCount: 1, seed: 4)
        var coin = SplitMix64(seed: 4)
        var lastSeen: String?? = nil
        for _ in 0..<300 {
            let operation = workload.next()
            if operation.kind == .cas {
                #expect(operation.expected == (lastSeen ?? nil))
            }
            // Pretend some operations succeed and reads see "r".
            let succeeded = Bool.random(using: &coin)
            let readValue: String? = operation.kind == .read ? "r" : nil
            workload.observe(operation, outcome: succeeded ? .ok : .unknown, readValue: readValue)
            if succeeded { lastSeen = operation.kind == .read ? .some(readValue) : .some(operation.value) }
        }
    }

    @Test func errorsMapToOutcomes() {
        let compareFailed = WRaftClientError.http(status: 412, code: .compareFailed, message: "", retryAfterSeconds: nil)
        #expect(Workload.outcome(of: compareFailed, kind: .cas) == .compareFailed)
        #expect(Workload.outcome(of: compareFailed, kind: .write) == .failed)
        let noLeader = WRaftClientError.http(status: 503, code: .noLeader, message: "", retryAfterSeconds: 1)
        #expect(Workload.outcome(of: noLeader, kind: .write) == .failed)
        let unknownOutcome = WRaftClientError.http(status: 504, code: .unknownOutcome, message: "", retryAfterSeconds: nil)
        #expect(Workload.outcome(of: unknownOutcome, kind: .cas) == .unknown)
        #expect(Workload.outcome(of: .timeout(afterMs: 10), kind: .write) == .unknown)
        #expect(Workload.outcome(of: .connectionClosed(address: "x"), kind: .write) == .unknown)
        #expect(Workload.outcome(of: .connectionRefused(address: "x"), kind: .write) == .failed)
        #expect(Workload.outcome(of: .http(status: 400, code: .badKey, message: "", retryAfterSeconds: nil), kind: .write) == .failed)
    }
}

@Suite struct HistoryRecorderTests {
    @Test func concurrentClientsGetUniqueIdsAndOrderedTimes() async {
        let recorder = HistoryRecorder()
        await withTaskGroup(of: Void.self) { group in
            for process in 0..<8 {
                group.addTask {
                    for step in 0..<200 {
                        let id = recorder.invoke(process: process, key: "k", kind: .write, value: "p\(process)-\(step)")
                        recorder.complete(id, outcome: step % 10 == 0 ? .unknown : .ok)
                    }
                }
            }
        }
        let operations = recorder.operations
        #expect(operations.count == 1_600)
        #expect(operations.map(\.id) == Array(1...1_600))
        for operation in operations {
            let completeNs = operation.completeNs ?? 0
            #expect(completeNs >= operation.invokeNs)
        }
        #expect(operations.filter { $0.outcome == .unknown }.count == 160)
        // Each client's own operations are sequential.
        for process in 0..<8 {
            let own = operations.filter { $0.process == process }
            for (earlier, later) in zip(own, own.dropFirst()) {
                #expect((earlier.completeNs ?? .max) <= later.invokeNs)
            }
        }
    }

    @Test func readsRecordTheirValue() {
        let recorder = HistoryRecorder()
        let id = recorder.invoke(process: 1, key: "k", kind: .read)
        #expect(recorder.operations[0].outcome == .unknown && recorder.operations[0].completeNs == nil)
        recorder.complete(id, outcome: .ok, readValue: "v")
        #expect(recorder.operations[0].readValue == "v")
        #expect(recorder.operations[0].outcome == .ok)
    }
}
