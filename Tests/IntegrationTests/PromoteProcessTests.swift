import Foundation
import Testing
import WRaftAPI
import WRaftClient

extension RealProcessTests {
    /// Issue 11: `wraft member promote` against real processes run with
    /// `--auto-promote-learners=false`: a joiner stays a learner, a lagging one is refused with
    /// `learner_not_ready`, a caught-up one is promoted and then counts toward the quorum.
    @Suite struct PromoteProcessTests {
        typealias Codes = CLIExitCodeTests

        @Test func aLearnerVotesOnlyOnceAnOperatorPromotesIt() async throws {
            try await ClusterFixture.withCluster(
                nodes: 4, name: "promote", configure: { $0.extraArguments = ["--auto-promote-learners=false"] }
            ) { cluster in
                let (leaderIndex, leader) = try await cluster.leaderClient()
                _ = try await leader.put("before", "1")
                let newIndex = try await cluster.addNode()
                let newNode = try await cluster.client(newIndex)
                try await newNode.connect(peer: try await leader.state().raftAddress)
                let newID = try await newNode.state().id
                let caughtUp = await eventually(timeoutMs: 15_000) {
                    (try? await newNode.get("before", consistency: .local))?.text == "1"
                }
                try #require(caughtUp, "the learner applied the log")

                let followers = (0..<4).filter { $0 != leaderIndex }
                let endpoints = await cluster.nodes.map(\.httpAddress.description)
                let follower = endpoints[followers[0]]
                func wraft(_ arguments: [String]) async throws -> CommandRunner.Outcome {
                    try await CommandRunner.run(arguments + ["--endpoints", follower, "--timeout-ms", "8000"])
                }

                // Caught up for a second (dozens of housekeeping rounds) and still a learner,
                // shown so by `member list` in each format.
                try await Task.sleep(for: .seconds(1))
                let listed = try CLIClusterTests.decode(NodeStateView.self, try await wraft(["member", "list", "-o", "json"]))
                #expect(listed.members.count == 5)
                #expect(listed.members.first { $0.id == newID }?.voter == false, "\(listed.members)")
                let simple = try await wraft(["member", "list"])
                #expect(simple.standardOutput.split(separator: "\n").filter { $0.contains("learner") }.map { $0.hasPrefix(newID) } == [true])
                let table = try await wraft(["member", "list", "-o", "table"])
                #expect(table.standardOutput.contains("KIND") && table.standardOutput.contains("learner"), "\(table.standardOutput)")

                // Refused: an unknown id (exit 3), a voter (exit 8), a learner that lags (exit 8).
                let unknown = try await wraft(["member", "promote", "00000000000000ff"])
                #expect(unknown.status == Codes.notFound, "\(unknown.standardError)")
                let voter = try await wraft(["member", "promote", listed.leader?.id ?? "?"])
                #expect(voter.status == Codes.refused && voter.standardError.contains("not_learner"), "\(voter.standardError)")
                try await newNode.inject(.pause)
                for number in 0..<150 { _ = try await leader.put("lag/\(number)", "x") }
                let lagging = try await wraft(["member", "promote", newID])
                #expect(lagging.status == Codes.refused, "\(lagging.standardError)")
                #expect(lagging.standardError.contains("learner_not_ready"), "\(lagging.standardError)")

                // Resumed, it catches up and is promoted (retried while it still lags).
                try await newNode.inject(.resume)
                var promoted: CommandRunner.Outcome?
                let done = await eventually(timeoutMs: 20_000, pollMs: 250) {
                    guard let outcome = try? await wraft(["member", "promote", newID, "-o", "json"]) else { return false }
                    promoted = outcome
                    return outcome.status == Codes.ok
                }
                #expect(done, "\(promoted?.standardError ?? "")")
                #expect(promoted?.standardOutput == #"{"promoted":"\#(newID)"}"# + "\n")
                let voters = try await leader.state().members.filter(\.voter).map(\.id)
                #expect(voters.count == 5 && voters.contains(newID), "\(voters)")

                // It votes: with two of the four old members stopped, three of five (the leader,
                // one old follower and the new voter) still commit. As a learner it could not
                // have made that quorum (two of four).
                try await cluster.kill(followers[1])
                try await cluster.kill(followers[2])
                let written = try await leader.put("after", "quorum of three", timeoutMs: 8_000)
                #expect(written.index > 0)
                let applied = await eventually(timeoutMs: 10_000) {
                    (try? await newNode.get("after", consistency: .local))?.text == "quorum of three"
                }
                #expect(applied)
            }
        }
    }
}
