import RaftCore

/// What the persister writes, in the order it was queued.
enum PersistWork {
    /// A Ready taken from the core, with the messages that wait for its write.
    case ready(Ready, lateMessages: [Message])
    /// A snapshot of the state machine, saved behind every Ready queued before it.
    case snapshot(SnapshotMetadata, data: [UInt8])
}

/// A FIFO of `PersistWork` (amortized O(1) pops from the front).
struct PersistQueue {
    private var items: [PersistWork] = []
    private var head = 0

    var count: Int { items.count - head }
    var isEmpty: Bool { head == items.count }
    var first: PersistWork? { isEmpty ? nil : items[head] }

    mutating func append(_ work: PersistWork) {
        items.append(work)
    }

    mutating func popFirst() -> PersistWork? {
        guard !isEmpty else { return nil }
        let work = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return work
    }

    mutating func removeAll() {
        items.removeAll()
        head = 0
    }
}
