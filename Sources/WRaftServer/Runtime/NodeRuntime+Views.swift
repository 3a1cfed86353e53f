#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVStore
import RaftCore
import WRaftAPI
import WRaftSupport

// `/state`, `/health`, `/log`, and the faults of `/op/...`.
extension NodeRuntime: NodeService {
    // MARK: Views

    func state() async -> NodeStateView {
        let status = core?.status
        return NodeStateView(
            id: localID.description, clusterID: clusterID.map(ClusterIDFormat.string),
            raftAddress: selfAddress.raftAddress, httpAddress: selfAddress.httpAddress,
            status: lifecycle.rawValue, role: status?.role.rawValue, term: status?.term.rawValue ?? 0,
            votedFor: status?.votedFor?.description, leader: leaderView(status?.leader),
            commitIndex: status?.commitIndex.rawValue ?? 0, appliedIndex: store.appliedIndex.rawValue,
            lastLogIndex: status?.lastLogIndex.rawValue ?? 0, snapshotIndex: status?.snapshotIndex.rawValue ?? 0,
            keys: store.count, faults: faults.descriptions, members: memberViews())
    }

    func health() async -> HealthView {
        let status = lifecycle == .running ? core?.status : nil
        let reason: String?
        if status == nil {
            reason = HealthView.Reason.notRunning
        } else if faults.isPaused {
            reason = HealthView.Reason.paused
        } else if status?.leader == nil {
            reason = HealthView.Reason.noLeader
        } else {
            reason = nil
        }
        return HealthView(
            serving: status != nil && !faults.isPaused, status: lifecycle.rawValue, role: status?.role.rawValue,
            health: reason == nil, reason: reason)
    }

    func log(from: LogIndex, limit: Int) async -> LogView {
        guard let core else { return LogView(snapshotIndex: 0, snapshotTerm: 0, entries: []) }
        let snapshot = core.latestSnapshot
        let boundedLimit = max(0, min(limit, 10_000))
        let items = core.entries(from: max(from, LogIndex(1)), limit: boundedLimit).map { entry in
            LogView.Item(
                index: entry.index.rawValue, term: entry.term.rawValue, type: Self.typeName(entry.kind),
                summary: Self.summary(of: entry))
        }
        return LogView(snapshotIndex: snapshot.index.rawValue, snapshotTerm: snapshot.term.rawValue, entries: items)
    }

    static func typeName(_ kind: Entry.Kind) -> String {
        switch kind {
        case .command: return "command"
        case .noop: return "noop"
        case .membership: return "membership"
        }
    }

    static func summary(of entry: Entry) -> String {
        switch entry.kind {
        case .command: return KVStore.summary(of: entry)
        case .noop: return "noop (new leader)"
        case .membership:
            guard let change = try? MembershipChange(decoding: entry.data) else { return "membership (undecodable)" }
            let voters = change.membership.voters.count
            let learners = change.membership.learners.count
            switch change.change {
            case .none: return "bootstrap: \(voters) voters"
            case .some(let configChange):
                let what: String
                switch configChange.kind {
                case .addLearner: what = "add learner"
                case .addVoter: what = "promote"
                case .remove: what = "remove"
                }
                return "\(what) \(configChange.node) (\(voters) voters, \(learners) learners)"
            }
        }
    }

    private func leaderView(_ leader: NodeID?) -> LeaderView? {
        guard let leader else { return nil }
        let address = book[leader]
        return LeaderView(
            id: leader.description, raftAddress: address?.raftAddress ?? "", httpAddress: address?.httpAddress ?? "")
    }

    /// Member `id` at its addresses from the book (empty where the book does not know them).
    private func memberView(_ id: NodeID, voter: Bool) -> MemberView {
        let address = book[id]
        return MemberView(
            id: id.description, raftAddress: address?.raftAddress ?? "", httpAddress: address?.httpAddress ?? "", voter: voter)
    }

    /// Every member (the configuration in force; every known node while `initial`), with the
    /// leader's view of their replication.
    func memberViews() -> [MemberView] {
        guard let status = core?.status else {
            return book.ids.map { memberView($0, voter: true) }
        }
        let now = clock.now
        return status.membership.members.sorted().map { id in
            var view = memberView(id, voter: status.membership.isVoter(id))
            if status.role == .leader, let progress = status.progress[id] {
                view.matchIndex = progress.matchIndex.rawValue
                view.nextIndex = progress.nextIndex.rawValue
                if id == localID {
                    view.lastContactMs = 0
                } else if let contact = lastContact[id] {
                    view.lastContactMs = Self.milliseconds(contact.duration(to: now))
                }
            }
            return view
        }
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.inMilliseconds)
    }

    // MARK: Faults

    func inject(_ fault: FaultCommand) async throws(NodeError) {
        guard options.isFaultInjectionEnabled else { throw .faultsDisabled }
        switch fault {
        case .pause:
            faults.pause()
        case .resume:
            faults.resume()
        case .isolate(let peers):
            faults.isolate(peers)
        case .delay(let ms, let jitterMs):
            guard ms >= 0, jitterMs >= 0, ms <= FaultState.delayMsMax, jitterMs <= FaultState.delayMsMax else {
                throw .badRequest(code: .badRequest, message: "ms and jitterMs must be in 0...\(FaultState.delayMsMax)")
            }
            faults.delay(ms: ms, jitterMs: jitterMs)
        case .drop(let rate):
            guard rate.isFinite, (0...1).contains(rate) else {
                throw .badRequest(code: .badRequest, message: "rate must be in 0...1")
            }
            faults.drop(rate: rate)
        case .heal:
            faults.heal()
        case .freeze:
            faults.freeze()
        case .release:
            faults.release()
        case .crash:
            logger.warning("fault injected: crash (exit at once, no cleanup)")
            _exit(1)
        case .stepDown:
            try stepDown()
        case .transfer(let target):
            try await transferLeadership(to: target, isForwarded: false)
        case .snapshot:
            guard lifecycle == .running else { throw notRunningError() }
            if !takeSnapshot() && !isSnapshotInProgress {
                throw .wrongState(code: .nothingToSnapshot, message: "nothing applied since the last snapshot")
            }
            // Answer once the snapshot is durable and the log compacted, as the caller expects.
            await waitForSnapshotInProgress()
        }
        logger.notice("fault injected", metadata: ["fault": "\(fault)", "faults_active": "\(faults.descriptions)"])
        eventLog.record(.fault(name: fault.name.rawValue, active: faults.descriptions))
        kick()
    }

    /// A leader hands leadership to its most up-to-date voter.
    private func stepDown() throws(NodeError) {
        guard lifecycle == .running, let status = core?.status else { throw notRunningError() }
        guard status.role == .leader else {
            throw .wrongState(code: .notLeader, message: "this node is not the leader")
        }
        let candidates = status.membership.voters.filter { $0 != localID }
        guard let target = candidates.max(by: { (status.progress[$0]?.matchIndex ?? .zero, $0) < (status.progress[$1]?.matchIndex ?? .zero, $1) })
        else {
            throw .wrongState(code: .noPeer, message: "there is no other voter to hand leadership to")
        }
        do {
            try core?.transferLeadership(to: target)
        } catch {
            throw Self.nodeError(for: error)
        }
        logger.notice("stepping down: transferring leadership", metadata: ["raft.transfer_to": "\(target)"])
    }

    /// Transfers leadership to `target` (on a follower: forwarded to the leader).
    func transferLeadership(to target: NodeID, isForwarded: Bool) async throws(NodeError) {
        guard lifecycle == .running, let status = core?.status else { throw notRunningError() }
        guard status.membership.isVoter(target) else { throw .notFound(message: "\(target) is not a voter") }
        guard status.role == .leader else {
            let deadline = clock.now + .milliseconds(options.controlTimeoutMs)
            _ = try await forwardToLeader(
                .transferLeadership(to: target.description, isForwarded: true), isForwarded: isForwarded, deadline: deadline)
            return
        }
        guard target != localID else { return }
        do {
            try core?.transferLeadership(to: target)
        } catch {
            throw Self.nodeError(for: error)
        }
        logger.notice("transferring leadership", metadata: ["raft.transfer_to": "\(target)"])
        kick()
    }
}
