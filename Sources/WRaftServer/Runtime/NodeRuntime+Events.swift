import RaftCore

// The core's events into the node's event log (`GET /events`).
extension NodeRuntime {
    /// `GET /events` reads this node's ring.
    nonisolated var eventStreamSource: NodeEventLog? { eventLog }

    /// Moves what the core recorded since the last call into `eventLog`: commits through the
    /// sampler (one per commit advance, thousands a second under load), the rest as they are.
    func publishCoreEvents() {
        publishResponseHeader()
        guard core?.hasEvents == true, let events = core?.takeEvents() else { return }
        for event in events {
            if case .committed = event {
                eventLog.recordFrequent(.raft(event))
            } else {
                eventLog.record(.raft(event))
            }
        }
    }
}
