/// How a node gets into a cluster (API.md "Node lifecycle" and "Cluster formation"), as a pure
/// state machine: the runtime feeds it requests (`/connect`, `/start`, and the control requests
/// of other nodes) and the outcomes of the work it asked for, and carries out the actions it
/// returns (DESIGN rule 7). It never touches the network, the storage or a clock.
///
/// Every transitional state carries the number of its attempt; an outcome tagged with another
/// attempt is stale (the node stopped meanwhile) and changes nothing. A failed attempt returns the
/// node to `initial` here, in one place: no caller undoes a transition by hand.
struct FormationStateMachine {
    enum State: Equatable {
        /// Standalone: knows only the members it was connected to; serves no data.
        case initial
        /// This node's `/start`: confirming the founders (a merge round with each) before a
        /// cluster id is drawn.
        case connecting(attempt: UInt64)
        /// Persisting the founding state of `clusterID` (this node's `/start`, or a founder's).
        case starting(attempt: UInt64, clusterID: UInt64)
        /// Asking a member of a running cluster to add this node (a `/connect` that found a
        /// running cluster, or an invitation from one of its members).
        case joining(attempt: UInt64)
        /// A member of cluster `clusterID`.
        case running(clusterID: UInt64)
        /// Shut down, or stopped by a storage failure: answers nothing.
        case stopped
    }

    /// Why a request cannot be served in the current state.
    enum Refusal: Equatable, Sendable {
        /// The node is between `initial` and `running`.
        case starting
        /// `/start` while this node's own start is under way.
        case alreadyStarting
        /// Only an `initial` node joins a cluster.
        case notInitial
        /// A founder's start names another cluster than the one this node runs in.
        case otherCluster(running: UInt64)
        case stopped
    }

    /// What the runtime does next.
    enum Action: Equatable, Sendable {
        /// Refuse the request.
        case refuse(Refusal)
        /// `/connect` while `initial`: send this node's member list to the peer (`merge`).
        case sendMerge
        /// `/connect` while running: invite the peer (an empty `initial` node) to join.
        case sendInvite
        /// A peer's member list while `initial`: merge it, pass it on, answer with ours.
        case mergeMembers
        /// Answer that this node runs in `clusterID`.
        case answerRunning(clusterID: UInt64)
        /// Ask the running member to add this node; report `joined` or `failed(attempt:)`.
        case sendJoin(attempt: UInt64)
        /// Confirm every founder is reachable and `initial`, merging their lists; report
        /// `foundersConfirmed` or `failed(attempt:)`.
        case confirmFounders(attempt: UInt64)
        /// Persist the founding state of `clusterID`; report `bootstrapped(attempt:)`.
        case bootstrap(clusterID: UInt64, attempt: UInt64)
        /// `/start` on a running node: send the start again to founders that missed it.
        case resendStart
        /// A founder's start for the cluster this node already runs: nothing to do.
        case alreadyDone
        /// Build the Raft core and take part: the node is `running` in `clusterID` now.
        case run(clusterID: UInt64)
        /// A stale outcome: nothing to do.
        case none
    }

    private(set) var state: State = .initial
    /// The number of the last attempt begun (or ended by `stop`).
    private(set) var attempt: UInt64 = 0

    /// The state as API.md names it (`/state`'s `status`).
    var lifecycle: NodeRuntime.Lifecycle {
        switch state {
        case .initial: return .initial
        case .connecting, .starting, .joining: return .starting
        case .running: return .running
        case .stopped: return .stopped
        }
    }

    /// The cluster this node runs in (nil unless running).
    var clusterID: UInt64? {
        if case .running(let clusterID) = state { return clusterID }
        return nil
    }

    // MARK: Requests

    /// `/connect` from an operator.
    mutating func connectRequested() -> Action {
        switch settled {
        case .initial: return .sendMerge
        case .running: return .sendInvite
        case .refused(let refusal): return .refuse(refusal)
        }
    }

    /// Another node's member list (`merge`).
    mutating func mergeReceived() -> Action {
        switch settled {
        case .initial: return .mergeMembers
        case .running(let clusterID): return .answerRunning(clusterID: clusterID)
        case .refused(let refusal): return .refuse(refusal)
        }
    }

    /// A member of a running cluster invites this node to join it (`invite`).
    mutating func inviteReceived() -> Action {
        switch settled {
        case .initial: return beginJoining()
        case .running(let clusterID): return .answerRunning(clusterID: clusterID)
        case .refused(let refusal): return .refuse(refusal)
        }
    }

    /// The peer of this node's `/connect` answered that it runs: join its cluster.
    mutating func peerIsRunning() -> Action {
        switch state {
        case .initial: return beginJoining()
        case .running, .connecting, .starting, .joining: return .refuse(.notInitial)
        case .stopped: return .refuse(.stopped)
        }
    }

    /// `/start` from an operator.
    mutating func startRequested() -> Action {
        switch state {
        case .initial:
            attempt &+= 1
            state = .connecting(attempt: attempt)
            return .confirmFounders(attempt: attempt)
        case .running: return .resendStart
        case .connecting, .starting, .joining: return .refuse(.alreadyStarting)
        case .stopped: return .refuse(.stopped)
        }
    }

    /// A founder started cluster `clusterID` with this node among the founders (`start`).
    mutating func startReceived(clusterID: UInt64) -> Action {
        switch state {
        case .initial: return beginStarting(clusterID: clusterID)
        case .running(let running):
            return running == clusterID ? .alreadyDone : .refuse(.otherCluster(running: running))
        case .connecting, .starting, .joining: return .refuse(.starting)
        case .stopped: return .refuse(.stopped)
        }
    }

    // MARK: Outcomes

    /// The founders of attempt `attempt` are confirmed, and the cluster id `clusterID` drawn.
    mutating func foundersConfirmed(attempt: UInt64, clusterID: UInt64) -> Action {
        guard state == .connecting(attempt: attempt) else { return .none }
        return beginStarting(clusterID: clusterID)
    }

    /// The founding state of attempt `attempt` is durable.
    mutating func bootstrapped(attempt: UInt64) -> Action {
        guard case .starting(attempt, let clusterID) = state else { return .none }
        state = .running(clusterID: clusterID)
        return .run(clusterID: clusterID)
    }

    /// The join of attempt `attempt` was accepted into `clusterID` (and recorded durably).
    mutating func joined(attempt: UInt64, clusterID: UInt64) -> Action {
        guard state == .joining(attempt: attempt) else { return .none }
        state = .running(clusterID: clusterID)
        return .run(clusterID: clusterID)
    }

    /// Attempt `attempt` (confirming founders, or joining) failed: the node is `initial` again.
    /// A failure while starting is not reported here: the storage failed, the node stops.
    mutating func failed(attempt: UInt64) -> Action {
        switch state {
        case .connecting(attempt), .joining(attempt):
            state = .initial
        default:
            break
        }
        return .none
    }

    /// The data dir holds the node's cluster: it runs in it from the start.
    mutating func recovered(clusterID: UInt64) -> Action {
        guard state == .initial else { return .none }
        state = .running(clusterID: clusterID)
        return .run(clusterID: clusterID)
    }

    /// The node shuts down (or its storage failed); every outcome still under way is stale.
    mutating func stop() {
        attempt &+= 1
        state = .stopped
    }

    /// How a request finds the node: `initial` or running serve it; in between, or stopped,
    /// it is refused.
    private enum Settled {
        case initial
        case running(clusterID: UInt64)
        case refused(Refusal)
    }

    private var settled: Settled {
        switch state {
        case .initial: return .initial
        case .running(let clusterID): return .running(clusterID: clusterID)
        case .connecting, .starting, .joining: return .refused(.starting)
        case .stopped: return .refused(.stopped)
        }
    }

    private mutating func beginJoining() -> Action {
        attempt &+= 1
        state = .joining(attempt: attempt)
        return .sendJoin(attempt: attempt)
    }

    private mutating func beginStarting(clusterID: UInt64) -> Action {
        attempt &+= 1
        state = .starting(attempt: attempt, clusterID: clusterID)
        return .bootstrap(clusterID: clusterID, attempt: attempt)
    }
}
