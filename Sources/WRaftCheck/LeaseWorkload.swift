import Foundation
import Synchronization
import WRaftAPI
import WRaftClient
import WRaftSupport

/// The lease part of the `txn-watch` workload (issue 12): kept leases granted at the start and
/// renewed by keepers through the faults, lapsing leases granted during the load and never
/// renewed, each with one key under `prefix`. Records everything for `LeaseChecker`. Safe to
/// share between tasks.
final class LeaseWorkload: Sendable {
    /// Where the leases' keys live (apart from the transactions' keys); its own watchers follow it.
    static let prefix = "tl/"
    static let keptCount = 2
    static let keptTTLSeconds: Int64 = 5
    /// Lapsing leases take these TTLs in turn, one granted every `lapsingIntervalMs`.
    static let lapsingTTLSeconds: [Int64] = [2, 3]
    static let lapsingIntervalMs = 2_500
    /// A renewal's deadline on the node, and the pause before the keeper tries the next node.
    static let renewTimeoutMs = 1_000
    static let retryIntervalMs = 250

    private struct State {
        var leases: [LeaseRecord] = []
        var keepersStopped = false
        var grantsStopped = false
    }

    private let state = Mutex(State())
    private let start: ContinuousClock.Instant
    private let clients: [NodeClient]
    private let requestTimeoutMs: Int

    init(nodes: [NodeAddress], start: ContinuousClock.Instant, requestTimeoutMs: Int) {
        precondition(!nodes.isEmpty, "LeaseWorkload: there are nodes to use")
        self.start = start
        self.requestTimeoutMs = requestTimeoutMs
        // Connections of its own, so the transactions' clients do not delay renewals.
        self.clients = nodes.map { NodeClient(address: $0, connectionsMax: 4, requestTimeoutMs: requestTimeoutMs) }
    }

    var leases: [LeaseRecord] { state.withLock { $0.leases } }
    private var nowNs: UInt64 { UInt64(clamping: (ContinuousClock.now - start).inNanoseconds) }

    /// Grants a lease of `ttlSeconds` through `node` and attaches `key` to it; records it when
    /// both were acknowledged (a lease whose key may not exist cannot be judged). Returns its index.
    @discardableResult
    func grant(_ kind: LeaseRecord.Kind, ttlSeconds: Int64, key: String, node: Int) async -> Int? {
        let client = clients[node % clients.count]
        let invokeNs = nowNs
        guard let granted = try? await client.grantLease(ttlSeconds: ttlSeconds, timeoutMs: requestTimeoutMs) else { return nil }
        let ackNs = nowNs
        guard (try? await client.put(key, Array("\(kind.rawValue)-\(granted.id)".utf8), lease: granted.id, timeoutMs: requestTimeoutMs)) != nil
        else { return nil }
        return state.withLock { state in
            state.leases.append(
                LeaseRecord(id: granted.id, kind: kind, ttlSeconds: ttlSeconds, key: key, grantInvokeNs: invokeNs, grantAckNs: ackNs))
            return state.leases.count - 1
        }
    }

    /// The kept leases, each tried on every node in turn until granted (bounded by `deadline`);
    /// each attempt attaches a key of its own (a key whose put may have applied under an
    /// abandoned lease is never reused).
    func grantKept(until deadline: ContinuousClock.Instant) async -> [Int] {
        var indices: [Int] = []
        for number in 0..<Self.keptCount {
            var attempt = number
            while ContinuousClock.now < deadline {
                if let index = await grant(.kept, ttlSeconds: Self.keptTTLSeconds, key: "\(Self.prefix)kept-\(number)-\(attempt)", node: attempt) {
                    indices.append(index)
                    break
                }
                attempt += 1
                try? await Task.sleep(for: .milliseconds(Self.retryIntervalMs))
            }
        }
        return indices
    }

    /// Grants a lapsing lease every `lapsingIntervalMs` through the nodes in turn, until `end`.
    func grantLapsing(until end: ContinuousClock.Instant) async {
        var number = 0
        var next = ContinuousClock.now + .milliseconds(Self.lapsingIntervalMs / 2)
        while next < end && !Task.isCancelled {
            try? await Task.sleep(until: next)
            let ttl = Self.lapsingTTLSeconds[number % Self.lapsingTTLSeconds.count]
            await grant(.lapsing, ttlSeconds: ttl, key: "\(Self.prefix)lapse-\(number)", node: number)
            number += 1
            next = next + .milliseconds(Self.lapsingIntervalMs)
        }
    }

    /// Renews lease `index` every third of its TTL through whatever node answers (the next
    /// one after a failure), until `stopKeepers`; records each acknowledged renewal, and a
    /// renewal answered that the lease is gone (then it stops).
    func keep(_ index: Int) async {
        let (id, ttlSeconds) = state.withLock { ($0.leases[index].id, $0.leases[index].ttlSeconds) }
        let interval = Duration.milliseconds(Int(ttlSeconds) * 1_000 / 3)
        var node = index
        var next = ContinuousClock.now + interval
        while !isKeeperStopped {
            while ContinuousClock.now < next && !isKeeperStopped { try? await Task.sleep(for: .milliseconds(50)) }
            while !isKeeperStopped {
                let sent = ContinuousClock.now
                let invokeNs = nowNs
                do throws(WRaftClientError) {
                    _ = try await clients[node % clients.count].keepAliveLease(id: id, timeoutMs: Self.renewTimeoutMs)
                    let ackNs = nowNs
                    state.withLock { $0.leases[index].renewals.append(LeaseRecord.Renewal(invokeNs: invokeNs, ackNs: ackNs)) }
                    next = sent + interval
                    break
                } catch {
                    if case .http(_, let code, _, _) = error, code == .leaseNotFound {
                        let lostNs = nowNs
                        state.withLock { $0.leases[index].lostNs = lostNs }
                        return
                    }
                    node += 1
                    try? await Task.sleep(for: .milliseconds(Self.retryIntervalMs))
                }
            }
        }
    }

    private var isKeeperStopped: Bool { state.withLock { $0.keepersStopped } }

    /// Stops the keepers, recording when on every kept lease still kept.
    func stopKeepers() {
        let untilNs = nowNs
        state.withLock { state in
            state.keepersStopped = true
            for index in state.leases.indices where state.leases[index].kind == .kept && state.leases[index].lostNs == nil {
                state.leases[index].keptUntilNs = untilNs
            }
        }
    }

    /// Whether each lease's key exists now (linearizable reads, any node, retried until
    /// `deadline`); a key no node answered for is left out.
    func readKeys(until deadline: ContinuousClock.Instant) async -> [String: Bool] {
        var present: [String: Bool] = [:]
        for lease in leases {
            var node = 0
            while ContinuousClock.now < deadline {
                do throws(WRaftClientError) {
                    present[lease.key] = try await clients[node % clients.count].get(lease.key, timeoutMs: requestTimeoutMs) != nil
                    break
                } catch {
                    node += 1
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        return present
    }

    func shutDown() async {
        for client in clients { await client.shutDown() }
    }

    /// The deletes of lease keys the watchers received, each at its earliest receipt.
    static func deletes(_ logs: [WatcherLog]) -> [LeaseKeyDelete] {
        var earliest: [UInt64: LeaseKeyDelete] = [:]
        for log in logs {
            for (position, event) in log.events.enumerated() where !event.isPut && log.receivedNs.indices.contains(position) {
                let receivedNs = log.receivedNs[position]
                if let known = earliest[event.revision], known.receivedNs <= receivedNs { continue }
                earliest[event.revision] = LeaseKeyDelete(key: event.key, revision: event.revision, receivedNs: receivedNs)
            }
        }
        return earliest.values.sorted { $0.revision < $1.revision }
    }
}
