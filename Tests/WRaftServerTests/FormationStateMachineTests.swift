import Testing

@testable import WRaftServer

/// The formation machine driven event by event: every request in every state, the outcomes of
/// each attempt, and outcomes that come late (stale) or for another attempt.
struct FormationStateMachineTests {
    typealias Machine = FormationStateMachine

    /// A machine moved to `running` in cluster 7 through `/start`.
    static func running() -> Machine {
        var machine = Machine()
        _ = machine.startRequested()
        _ = machine.foundersConfirmed(attempt: machine.attempt, clusterID: 7)
        _ = machine.bootstrapped(attempt: machine.attempt)
        return machine
    }

    @Test func anInitialNodeMergesAndIsNotServing() {
        var machine = Machine()
        #expect(machine.state == .initial)
        #expect(machine.lifecycle == .initial)
        #expect(machine.clusterID == nil)
        #expect(machine.connectRequested() == .sendMerge)
        #expect(machine.mergeReceived() == .mergeMembers)
        // Requests while initial do not move it.
        #expect(machine.state == .initial)
    }

    @Test func startConfirmsTheFoundersThenBootstrapsThenRuns() {
        var machine = Machine()
        #expect(machine.startRequested() == .confirmFounders(attempt: 1))
        #expect(machine.state == .connecting(attempt: 1))
        #expect(machine.lifecycle == .starting)
        #expect(machine.foundersConfirmed(attempt: 1, clusterID: 7) == .bootstrap(clusterID: 7, attempt: 2))
        #expect(machine.state == .starting(attempt: 2, clusterID: 7))
        #expect(machine.lifecycle == .starting)
        #expect(machine.clusterID == nil, "not a member until the founding state is durable")
        #expect(machine.bootstrapped(attempt: 2) == .run(clusterID: 7))
        #expect(machine.state == .running(clusterID: 7))
        #expect(machine.lifecycle == .running)
        #expect(machine.clusterID == 7)
    }

    @Test func everyRequestIsRefusedWhileStartingOrJoining() {
        var connecting = Machine()
        _ = connecting.startRequested()
        var starting = Machine()
        _ = starting.startReceived(clusterID: 3)
        var joining = Machine()
        _ = joining.inviteReceived()
        for var machine in [connecting, starting, joining] {
            let before = machine.state
            #expect(machine.connectRequested() == .refuse(.starting))
            #expect(machine.mergeReceived() == .refuse(.starting))
            #expect(machine.inviteReceived() == .refuse(.starting))
            #expect(machine.startReceived(clusterID: 9) == .refuse(.starting))
            #expect(machine.startRequested() == .refuse(.alreadyStarting))
            #expect(machine.peerIsRunning() == .refuse(.notInitial))
            #expect(machine.recovered(clusterID: 9) == .none)
            #expect(machine.state == before, "a refused request changes nothing")
        }
    }

    @Test func aFailedAttemptReturnsToInitialOnceAndOnlyForItsOwnAttempt() {
        var machine = Machine()
        _ = machine.startRequested()
        // Another attempt's failure is stale.
        #expect(machine.failed(attempt: 99) == .none)
        #expect(machine.state == .connecting(attempt: 1))
        #expect(machine.failed(attempt: 1) == .none)
        #expect(machine.state == .initial)
        // Reported twice: the second finds it initial and changes nothing.
        _ = machine.failed(attempt: 1)
        #expect(machine.state == .initial)
        // And the node can start again, under a new attempt.
        #expect(machine.startRequested() == .confirmFounders(attempt: 2))
        // The old attempt's confirmation is stale.
        #expect(machine.foundersConfirmed(attempt: 1, clusterID: 7) == .none)
        #expect(machine.state == .connecting(attempt: 2))
    }

    @Test func aFailureWhileStartingDoesNotReturnToInitial() {
        var machine = Machine()
        #expect(machine.startReceived(clusterID: 5) == .bootstrap(clusterID: 5, attempt: 1))
        _ = machine.failed(attempt: 1)
        #expect(machine.state == .starting(attempt: 1, clusterID: 5), "a bootstrap is never undone: storage failed, the node stops")
        machine.stop()
        #expect(machine.bootstrapped(attempt: 1) == .none)
        #expect(machine.state == .stopped)
    }

    @Test func joiningThroughAConnectOrAnInvitation() {
        var connected = Machine()
        #expect(connected.connectRequested() == .sendMerge)
        #expect(connected.peerIsRunning() == .sendJoin(attempt: 1))
        #expect(connected.state == .joining(attempt: 1))
        #expect(connected.lifecycle == .starting)
        #expect(connected.joined(attempt: 1, clusterID: 4) == .run(clusterID: 4))
        #expect(connected.clusterID == 4)

        var invited = Machine()
        #expect(invited.inviteReceived() == .sendJoin(attempt: 1))
        #expect(invited.failed(attempt: 1) == .none)
        #expect(invited.state == .initial)
        // The answer to the failed join arrives late: stale.
        #expect(invited.joined(attempt: 1, clusterID: 4) == .none)
        #expect(invited.state == .initial)
    }

    @Test func aRunningNodeAnswersRunningInvitesAndResendsStart() {
        var machine = Self.running()
        #expect(machine.connectRequested() == .sendInvite)
        #expect(machine.mergeReceived() == .answerRunning(clusterID: 7))
        #expect(machine.inviteReceived() == .answerRunning(clusterID: 7))
        #expect(machine.startRequested() == .resendStart)
        #expect(machine.startReceived(clusterID: 7) == .alreadyDone)
        #expect(machine.startReceived(clusterID: 8) == .refuse(.otherCluster(running: 7)))
        #expect(machine.peerIsRunning() == .refuse(.notInitial))
        #expect(machine.recovered(clusterID: 8) == .none)
        // Outcomes of attempts long finished change nothing.
        #expect(machine.bootstrapped(attempt: machine.attempt) == .none)
        #expect(machine.joined(attempt: machine.attempt, clusterID: 8) == .none)
        #expect(machine.failed(attempt: machine.attempt) == .none)
        #expect(machine.state == .running(clusterID: 7))
    }

    @Test func aRecoveredNodeRunsAtOnce() {
        var machine = Machine()
        #expect(machine.recovered(clusterID: 12) == .run(clusterID: 12))
        #expect(machine.state == .running(clusterID: 12))
    }

    @Test func aStoppedNodeRefusesEverythingAndIgnoresLateOutcomes() {
        var machine = Machine()
        _ = machine.inviteReceived()
        let joinAttempt = machine.attempt
        machine.stop()
        #expect(machine.state == .stopped)
        #expect(machine.lifecycle == .stopped)
        #expect(machine.joined(attempt: joinAttempt, clusterID: 3) == .none)
        #expect(machine.failed(attempt: joinAttempt) == .none)
        #expect(machine.state == .stopped, "a late failure does not bring a stopped node back to initial")
        #expect(machine.connectRequested() == .refuse(.stopped))
        #expect(machine.mergeReceived() == .refuse(.stopped))
        #expect(machine.inviteReceived() == .refuse(.stopped))
        #expect(machine.peerIsRunning() == .refuse(.stopped))
        #expect(machine.startRequested() == .refuse(.stopped))
        #expect(machine.startReceived(clusterID: 3) == .refuse(.stopped))
        #expect(machine.recovered(clusterID: 3) == .none)

        var running = Self.running()
        running.stop()
        #expect(running.clusterID == nil)
        #expect(running.mergeReceived() == .refuse(.stopped))
    }
}
