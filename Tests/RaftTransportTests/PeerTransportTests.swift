import Logging
import NIOCore
import NIOPosix
import RaftCodec
import RaftCore
import Synchronization
import Testing
import WRaftSupport
import WRaftTestSupport

@testable import RaftTransport

/// Real transports on 127.0.0.1 exchanging real frames; every wait bounded by `waitBound`.
@Suite struct PeerTransportTests {
    @Test func twoTransportsExchangeMessagesBothWays() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            try b.know([a])

            a.transport.send((1...50).map { heartbeat(from: 1, to: 2, commit: $0) })
            b.transport.send([append(from: 2, to: 1, valueBytes: 100_000)])

            #expect(await b.inbox.waitForMessages(50))
            #expect(await a.inbox.waitForMessages(1))
            // In order, intact.
            #expect(b.inbox.messages == (1...50).map { heartbeat(from: 1, to: 2, commit: $0) })
            #expect(a.inbox.messages == [append(from: 2, to: 1, valueBytes: 100_000)])
            #expect(a.transport.peerStatus() == [2: .connected])
            #expect(a.transport.statistics.messagesSent == 50)
            #expect(b.transport.statistics.messagesReceived == 50)
            #expect(a.logLines.count(of: "peer connection up") == 1)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func smallAndLargeMessagesInOneBatchKeepTheirOrder() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            try b.know([a])
            // Small frames are copied into shared write buffers, large ones written alone: the
            // interleaving must survive.
            let batch: [Message] = (1...300).map { index in
                index % 50 == 0
                    ? append(from: 1, to: 2, valueBytes: 200_000, index: UInt64(index))
                    : heartbeat(from: 1, to: 2, commit: UInt64(index))
            }
            a.transport.send(batch)
            #expect(await b.inbox.waitForMessages(batch.count))
            #expect(b.inbox.messages == batch)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func threeTransportsTalkInEveryDirection() async throws {
        var nodes: [Node] = []
        for id in [NodeID(11), 12, 13] { nodes.append(try await Node.start(id)) }
        let all = nodes
        try await withCleanup {
            for node in nodes { try node.know(nodes) }

            for sender in nodes {
                sender.transport.send(nodes.filter { $0.id != sender.id }.map { heartbeat(from: sender.id, to: $0.id) })
            }
            for receiver in nodes {
                #expect(await receiver.inbox.waitForMessages(2))
                let senders = Set(receiver.inbox.messages.map(\.from))
                #expect(senders == Set(nodes.map(\.id)).subtracting([receiver.id]))
                #expect(receiver.inbox.messages.allSatisfy { $0.to == receiver.id })
            }
        } finally: {
            for node in all { await node.transport.shutdown() }
        }
    }

    @Test func aPeerThatWasDownReceivesLaterMessagesOnceItIsUp() async throws {
        var options = TransportOptions()
        options.reconnectBackoffInitial = .milliseconds(20)
        options.reconnectBackoffMax = .milliseconds(200)
        let a = try await Node.start(1, options: options)
        // Learn a free port, then take the peer down.
        let firstB = try await Node.start(2)
        let port = firstB.port
        await firstB.transport.shutdown()
        try await withCleanup {
            try a.transport.setPeerAddress(2, address: "127.0.0.1:\(port)")

            a.transport.send([heartbeat(from: 1, to: 2)])
            #expect(await eventually { a.logLines.count(of: "peer unreachable") == 1 })
            #expect(a.transport.peerStatus()[2] != .connected)

            let b = try await Node.start(2, port: port)
            try b.know([a])
            try await withCleanup {
                // Raft keeps sending (heartbeats); the link reconnects by itself and delivers.
                let delivered = await b.inbox.waitUntil { items in
                    a.transport.send([heartbeat(from: 1, to: 2, commit: 7)])
                    return items.contains(.message(heartbeat(from: 1, to: 2, commit: 7)))
                }
                #expect(delivered)
                #expect(a.transport.peerStatus()[2] == .connected)
                #expect(a.transport.statistics.reconnects >= 1)
                // One line for the failure and one for the recovery, however many retries it took.
                #expect(a.logLines.count(of: "peer unreachable") == 1)
                #expect(a.logLines.count(of: "peer connection up") == 1)
            } finally: {
                await b.transport.shutdown()
            }
        } finally: {
            await a.transport.shutdown()
        }
    }

    @Test func aFullOutboxDropsAndCountsInsteadOfBlocking() async throws {
        var options = TransportOptions()
        options.outboxMessagesMax = 10
        let a = try await Node.start(1, options: options)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            try b.know([a])

            // One call queues everything before the lazy connection exists: 10 fit, 90 are dropped.
            a.transport.send((1...100).map { heartbeat(from: 1, to: 2, commit: $0) })
            #expect(a.transport.statistics.messagesDroppedOutboxFull == 90)
            #expect(a.transport.statistics.messagesDropped == 90)
            #expect(await b.inbox.waitForMessages(10))
            #expect(b.inbox.messages.map { heartbeatCommit($0) } == (1...10).map { LogIndex($0) })
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func theOutboxByteBoundAlsoDrops() async throws {
        var options = TransportOptions()
        options.frameBytesMax = 128 << 10
        options.outboxBytesMax = 128 << 10
        options.snapshotChunkBytes = 16 << 10
        options.controlBytesMax = 16 << 10
        let a = try await Node.start(1, options: options)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            try b.know([a])

            // Each append is about 40 KB: three fit in 128 KiB, the other five are dropped.
            a.transport.send((1...8).map { append(from: 1, to: 2, valueBytes: 40_000, index: $0) })
            #expect(a.transport.statistics.messagesDroppedOutboxFull == 5)
            #expect(await b.inbox.waitForMessages(3))
            // A message larger than a frame is dropped too, never sent.
            a.transport.send([append(from: 1, to: 2, valueBytes: 140_000)])
            #expect(a.transport.statistics.messagesDropped == 6)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aSlowConsumerMakesIncomingDropPastItsBounds() async throws {
        var options = TransportOptions()
        options.frameBytesMax = 128 << 10
        options.outboxBytesMax = 128 << 10
        options.incomingBytesMax = 128 << 10
        options.incomingMessagesMax = 6
        options.snapshotChunkBytes = 16 << 10
        options.controlBytesMax = 16 << 10
        let a = try await Node.start(1)
        // B's consumer does not read until told to.
        let b = try PeerTransport(
            localID: 2, options: options, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "b"))
        let port = try await b.start(host: "127.0.0.1", port: 0)
        try await withCleanup {
            try a.transport.setPeerAddress(2, address: "127.0.0.1:\(port)")
            try b.setPeerAddress(1, address: a.address)

            // About 40 KB each: three fit in 128 KiB.
            a.transport.send((1...5).map { append(from: 1, to: 2, valueBytes: 40_000, index: $0) })
            #expect(await eventually { b.statistics.messagesDropped == 2 })
            // Small messages fill the count bound (6) and the rest are dropped.
            a.transport.send((1...10).map { heartbeat(from: 1, to: 2, commit: $0) })
            #expect(await eventually { b.statistics.messagesDropped == 2 + 7 })

            var iterator = b.incoming.makeAsyncIterator()
            var taken: [Incoming] = []
            for _ in 0..<6 {
                guard let item = await iterator.next() else { break }
                taken.append(item)
            }
            #expect(taken.count == 6)
            let expectedAppends: [Incoming] = (1...3).map { .message(append(from: 1, to: 2, valueBytes: 40_000, index: $0)) }
            #expect(Array(taken.prefix(3)) == expectedAppends)
            // Reading released the space: new messages are taken again.
            a.transport.send([append(from: 1, to: 2, valueBytes: 40_000, index: 9)])
            let next = await iterator.next()
            #expect(next == .message(append(from: 1, to: 2, valueBytes: 40_000, index: 9)))
        } finally: {
            await a.transport.shutdown()
            await b.shutdown()
        }
    }

    @Test func aPeerThatStopsReadingIsDisconnectedAndRetried() async throws {
        var options = TransportOptions()
        options.writeStallTimeout = .milliseconds(300)
        options.outboxBytesMax = options.frameBytesMax
        options.reconnectBackoffInitial = .milliseconds(10)
        let a = try await Node.start(1, options: options)
        let silent = try await SilentServer.start()
        try await withCleanup {
            try a.transport.setPeerAddress(2, address: "127.0.0.1:\(silent.port)")

            // Far more than the socket buffers hold: the channel stops being writable and the
            // outbox fills and drops; `send` still returns at once.
            for index in 1...60 {
                a.transport.send([append(from: 1, to: 2, valueBytes: 512 << 10, index: UInt64(index))])
            }
            #expect(await eventually { a.transport.statistics.messagesDroppedOutboxFull > 0 })
            // The stalled connection is closed and a new one made.
            #expect(await eventually { silent.acceptedCount.count >= 2 })
            #expect(a.logLines.count(of: "peer connection down") >= 1)
        } finally: {
            await a.transport.shutdown()
            await silent.stop()
        }
    }

    @Test func messagesForUnknownPeersAreDropped() async throws {
        let a = try await Node.start(1)
        try await withCleanup {
            a.transport.send([heartbeat(from: 1, to: 99)])
            #expect(a.transport.statistics.messagesDropped == 1)
            #expect(a.transport.peerStatus().isEmpty)
        } finally: {
            await a.transport.shutdown()
        }
    }

    @Test func anOversizedFrameClosesOnlyThatConnection() async throws {
        var options = TransportOptions()
        options.frameBytesMax = 1 << 20
        options.outboxBytesMax = 1 << 20
        options.snapshotChunkBytes = 256 << 10
        options.controlBytesMax = 256 << 10
        let a = try await Node.start(1, options: options)
        let b = try await Node.start(2)
        try await withCleanup {
            try b.know([a])
            try a.know([b])
            b.transport.send([heartbeat(from: 2, to: 1, commit: 1)])
            #expect(await a.inbox.waitForMessages(1))

            let raw = try await RawClient.connect(port: a.port)
            // A length prefix of 4 GiB - 1: refused on sight, without waiting for the bytes.
            try await raw.send([0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 0, 0, 0, 0, 0])
            #expect(await raw.isClosedByServer())
            #expect(a.transport.statistics.connectionsRejected == 1)
            #expect(a.logLines.count(of: "closing inbound connection") == 1)

            // The peer's connection was untouched, and the transport carries on.
            b.transport.send([heartbeat(from: 2, to: 1, commit: 2)])
            #expect(await a.inbox.waitForMessages(2))
            #expect(b.transport.peerStatus()[1] == .connected)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func randomBytesCloseTheConnectionAndTheTransportCarriesOn() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            try b.know([a])
            try a.know([b])
            let seeds = seedCount(default: 5)
            for seed in 0..<UInt64(seeds) {
                var generator = SplitMix64(seed: seed)
                let garbage = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let raw = try await RawClient.connect(port: a.port)
                try await raw.send(garbage)
                let length = garbage.prefix(4).reduce(0) { $0 << 8 | Int($1) }
                if length > a.transport.options.frameBytesMax || length < Frame.headerBytes {
                    #expect(await raw.isClosedByServer(), "seed=\(seed)")
                }
                raw.close()
                b.transport.send([heartbeat(from: 2, to: 1, commit: seed)])
                let delivered = await a.inbox.waitUntil { $0.contains(.message(heartbeat(from: 2, to: 1, commit: seed))) }
                #expect(delivered, "seed=\(seed)")
                if !delivered { return }
            }
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aMalformedMessageInAValidFrameClosesTheConnection() async throws {
        let a = try await Node.start(1)
        try await withCleanup {
            let raw = try await RawClient.connect(port: a.port)
            var frame = ByteBuffer()
            frame.writeFrame(kind: .raftMessage, clusterID: 0, payload: ByteBuffer(bytes: [0xEE, 1, 2, 3, 4, 5]))
            try await raw.send(Array(frame.readableBytesView))
            #expect(await raw.isClosedByServer())
            #expect(a.transport.statistics.connectionsRejected == 1)
            #expect(a.inbox.received.isEmpty)
        } finally: {
            await a.transport.shutdown()
        }
    }

    @Test func aFrameFromAnotherClusterIsRefused() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        let c = try await Node.start(3)
        try await withCleanup {
            a.transport.setClusterID(0xA)
            b.transport.setClusterID(0xB)
            c.transport.setClusterID(0xA)
            try b.know([a])
            try c.know([a])
            try a.know([b, c])

            b.transport.send([heartbeat(from: 2, to: 1)])
            #expect(await eventually { a.transport.statistics.connectionsRejected >= 1 })
            c.transport.send([heartbeat(from: 3, to: 1)])
            #expect(await a.inbox.waitForMessages(1))
            #expect(a.inbox.messages.map(\.from) == [3])
            #expect(a.logLines.count(of: "closing inbound connection") >= 1)
        } finally: {
            for node in [a, b, c] { await node.transport.shutdown() }
        }
    }

    @Test func aReceiverThatDoesNotKnowItsClusterYetAcceptsAnyID() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            b.transport.setClusterID(0xB)
            try b.know([a])
            try a.know([b])
            b.transport.send([heartbeat(from: 2, to: 1)])
            #expect(await a.inbox.waitForMessages(1))
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    /// Finding 2: a frame stamped "cluster 0" used to pass the cluster check everywhere. Once a
    /// node knows its cluster, Raft traffic without that id closes the connection, even from a
    /// member's id; the member's own traffic (with the id) still flows.
    @Test func aFrameWithoutAClusterIDIsRefusedOnceTheClusterIsKnown() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            a.transport.setClusterID(0xA)
            b.transport.setClusterID(0xA)
            try a.know([b])
            try b.know([a])
            let raw = try await RawClient.connect(port: a.port)
            try await raw.send(frameBytes(heartbeat(from: 2, to: 1, term: 1 << 40), clusterID: 0))
            #expect(await raw.isClosedByServer())
            #expect(a.transport.statistics.connectionsRejected == 1)
            b.transport.send([heartbeat(from: 2, to: 1, commit: 5)])
            #expect(await a.inbox.waitForMessages(1))
            #expect(a.inbox.messages == [heartbeat(from: 2, to: 1, commit: 5)])
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func messagesForAnotherNodeAreDroppedOnArrival() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            // B believes node 9 lives at A's address.
            try b.transport.setPeerAddress(9, address: a.address)
            try b.know([a])
            try a.know([b])
            b.transport.send([heartbeat(from: 2, to: 9), heartbeat(from: 2, to: 1)])
            #expect(await a.inbox.waitForMessages(1))
            #expect(await eventually { a.transport.statistics.messagesDropped == 1 })
            #expect(a.inbox.messages.map(\.to) == [1])
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aSnapshotOfSeveralMiBArrivesIntact() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            try b.know([a])
            var generator = SplitMix64(seed: 42)
            // Not a multiple of the 1 MiB chunk size, so the last chunk is partial.
            let data = (0..<(3 << 20) + 12345).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let message = snapshotMessage(from: 1, to: 2)

            // Heartbeats keep flowing on their own connection meanwhile.
            a.transport.send([heartbeat(from: 1, to: 2)])
            #expect(await a.transport.sendSnapshot(message, data: data))
            #expect(await b.inbox.waitUntil { $0.contains(.snapshot(message, data: data)) })
            #expect(b.inbox.received.contains(.message(heartbeat(from: 1, to: 2))))
            #expect(a.transport.statistics.snapshotsSent == 1)
            #expect(b.transport.statistics.snapshotsReceived == 1)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func anEmptySnapshotIsDeliveredToo() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            try a.know([b])
            try b.know([a])
            let message = snapshotMessage(from: 1, to: 2)
            #expect(await a.transport.sendSnapshot(message, data: []))
            #expect(await b.inbox.waitUntil { $0 == [.snapshot(message, data: [])] })
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aSnapshotFailsWithoutAPeerOrOverTheBound() async throws {
        var options = TransportOptions()
        options.snapshotBytesMax = 1000
        let a = try await Node.start(1, options: options)
        let b = try await Node.start(2)
        try await withCleanup {
            #expect(await a.transport.sendSnapshot(snapshotMessage(from: 1, to: 2), data: [1]) == false)
            try a.know([b])
            try b.know([a])
            #expect(await a.transport.sendSnapshot(snapshotMessage(from: 1, to: 2), data: Array(repeating: 1, count: 1001)) == false)
            #expect(await a.transport.sendSnapshot(snapshotMessage(from: 1, to: 2), data: Array(repeating: 1, count: 1000)))
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aSnapshotOverTheReceiversBoundIsRefused() async throws {
        var receiverOptions = TransportOptions()
        receiverOptions.snapshotBytesMax = 1000
        let a = try await Node.start(1)
        let b = try await Node.start(2, options: receiverOptions)
        try await withCleanup {
            try a.know([b])
            try b.know([a])
            #expect(await a.transport.sendSnapshot(snapshotMessage(from: 1, to: 2), data: Array(repeating: 1, count: 5000)) == false)
            #expect(b.inbox.received.isEmpty)
            #expect(b.transport.statistics.connectionsRejected == 1)
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aStalledSnapshotTransferIsDropped() async throws {
        var options = TransportOptions()
        options.snapshotStallTimeout = .milliseconds(300)
        let a = try await Node.start(1, options: options)
        try await withCleanup {
            // Sender 2 is admitted (as a member would be): the transfer is dropped for stalling alone.
            try a.transport.setPeerAddress(2, address: "127.0.0.1:1")
            let raw = try await RawClient.connect(port: a.port)
            var message = ByteBuffer()
            message.writeRaftMessage(snapshotMessage(from: 2, to: 1))
            var frame = ByteBuffer()
            frame.writeFrame(kind: .snapshotChunk, clusterID: 0) { payload in
                SnapshotChunk(
                    sender: 2, transferID: 5, totalBytes: 1000, offset: 0, message: message,
                    data: ByteBuffer(bytes: [1, 2, 3])
                ).write(to: &payload)
            }
            try await raw.send(Array(frame.readableBytesView))
            // The first chunk and then silence: the receiver gives up and closes.
            #expect(await raw.isClosedByServer())
            #expect(a.transport.statistics.connectionsRejected == 1)
            #expect(a.inbox.received.isEmpty)
        } finally: {
            await a.transport.shutdown()
        }
    }

    @Test func inboundConnectionsAreBounded() async throws {
        var options = TransportOptions()
        options.inboundConnectionsMax = 2
        options.firstFrameTimeout = .seconds(60)
        let a = try await Node.start(1, options: options)
        let b = try await Node.start(2)
        try await withCleanup {
            let clients = [
                try await RawClient.connect(port: a.port), try await RawClient.connect(port: a.port),
                try await RawClient.connect(port: a.port),
            ]
            let admitted = await RawClient.admitted(clients, expectingRefused: 1)
            #expect(admitted.count == 2)

            // A freed slot serves a real peer.
            admitted.first?.close()
            try b.know([a])
            try a.know([b])
            let delivered = await a.inbox.waitUntil { items in
                b.transport.send([heartbeat(from: 2, to: 1, commit: 3)])
                return !items.isEmpty
            }
            #expect(delivered)
            admitted.last?.close()
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aControlCallRoundTrips() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            b.transport.setControlHandler { request, _ in Array(request.reversed()) + [0xFF] }
            // No peer relationship is needed: control calls go to any raft address.
            let response = try await a.transport.call(address: b.address, request: [1, 2, 3], timeout: waitBound)
            #expect(response == [3, 2, 1, 0xFF])
            // Also across clusters: cluster formation must reach the other side to see a conflict.
            a.transport.setClusterID(1)
            b.transport.setClusterID(2)
            let empty = try await a.transport.call(address: b.address, request: [], timeout: waitBound)
            #expect(empty == [0xFF])
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aControlCallTimesOut() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try await withCleanup {
            b.transport.setControlHandler { request, _ in
                try? await Task.sleep(for: .seconds(5))
                return request
            }
            let started = ContinuousClock.now
            await #expect(throws: TransportError.timedOut) {
                try await a.transport.call(address: b.address, request: [1], timeout: .milliseconds(200))
            }
            #expect(ContinuousClock.now - started < .seconds(3))
        } finally: {
            await a.transport.shutdown()
            await b.transport.shutdown()
        }
    }

    @Test func aControlCallReportsTheRemoteHasNoHandlerOrIsUnreachable() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        let port = b.port
        try await withCleanup {
            await #expect(throws: TransportError.noControlHandler) {
                try await a.transport.call(address: b.address, request: [1], timeout: waitBound)
            }
            await b.transport.shutdown()
            await #expect(throws: TransportError.self) {
                try await a.transport.call(address: "127.0.0.1:\(port)", request: [1], timeout: waitBound)
            }
            await #expect(throws: TransportError.invalidAddress("nonsense")) {
                try await a.transport.call(address: "nonsense", request: [1], timeout: waitBound)
            }
        } finally: {
            await a.transport.shutdown()
        }
    }

    @Test func changingAndRemovingAPeerAddress() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        let c = try await Node.start(3)
        try await withCleanup {
            // Node 2 "moves" from B's address to C's (C will see messages addressed to node 2 as
            // not its own, so watch the counters instead).
            try a.transport.setPeerAddress(2, address: b.address)
            try b.know([a])
            try c.know([a])
            a.transport.send([heartbeat(from: 1, to: 2)])
            #expect(await b.inbox.waitForMessages(1))
            try a.transport.setPeerAddress(2, address: c.address)
            a.transport.send([heartbeat(from: 1, to: 2)])
            #expect(await eventually { c.transport.statistics.messagesDropped == 1 })
            try a.transport.setPeerAddress(2, address: nil)
            #expect(a.transport.peerStatus().isEmpty)
            a.transport.send([heartbeat(from: 1, to: 2)])
            #expect(a.transport.statistics.messagesDropped == 1)
            #expect(throws: TransportError.invalidAddress("bad")) { try a.transport.setPeerAddress(2, address: "bad") }
        } finally: {
            for node in [a, b, c] { await node.transport.shutdown() }
        }
    }

    @Test func shutdownFinishesIncomingAndRefusesFurtherWork() async throws {
        let a = try await Node.start(1)
        let b = try await Node.start(2)
        try a.know([b])
        try b.know([a])
        a.transport.send([heartbeat(from: 1, to: 2)])
        #expect(await b.inbox.waitForMessages(1))
        await b.transport.shutdown()
        await b.transport.shutdown()
        // Incoming finished: the consumer's loop ends.
        #expect(await eventually { b.inbox.isFinished })
        // A notices the peer is gone.
        #expect(await eventually { a.transport.peerStatus()[2] != .connected })
        await a.transport.shutdown()
        a.transport.send([heartbeat(from: 1, to: 2)])
        #expect(a.transport.statistics.messagesDropped >= 1)
        await #expect(throws: TransportError.shutDown) {
            try await a.transport.call(address: b.address, request: [], timeout: waitBound)
        }
    }

    @Test func anActorConsumesIncomingUntilShutdown() async throws {
        let a = try await Node.start(1)
        let lines = LogLines()
        let b = try PeerTransport(
            localID: 2, options: TransportOptions(), group: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "b") { _ in RecordingLogHandler(lines: lines) })
        let port = try await b.start(host: "127.0.0.1", port: 0)
        try await withCleanup {
            let consumer = CountingConsumer()
            let consuming = Task { await consumer.consume(b) }
            try a.transport.setPeerAddress(2, address: "127.0.0.1:\(port)")
            try b.setPeerAddress(1, address: a.address)
            a.transport.send((1...20).map { heartbeat(from: 1, to: 2, commit: $0) })
            #expect(await eventually { consumer.countSnapshot.withLock { $0 } == 20 })
            await b.shutdown()
            // The consumer's loop ends with the transport.
            await consuming.value
            #expect(await consumer.count == 20)
        } finally: {
            await a.transport.shutdown()
        }
    }

    @Test func invalidOptionsAreRefusedAtInit() {
        var options = TransportOptions()
        options.frameBytesMax = 10
        #expect(throws: TransportError.self) {
            _ = try PeerTransport(
                localID: 1, options: options, group: NIOSingletons.posixEventLoopGroup,
                logger: .init(label: "test"))
        }
    }
}

func snapshotMessage(from: NodeID, to: NodeID) -> Message {
    let metadata = SnapshotMetadata(
        index: 100, term: 3, membership: Membership(voters: [from, to]), membershipContext: Array("addresses".utf8))
    return Message(from: from, to: to, term: 3, payload: .installSnapshot(metadata))
}

func heartbeatCommit(_ message: Message) -> LogIndex? {
    if case .heartbeat(let request) = message.payload { return request.commit }
    return nil
}

/// Consumes `incoming` on an actor, the way a node's runtime does.
actor CountingConsumer {
    private(set) var count = 0
    nonisolated let countSnapshot = Mutex(0)

    func consume(_ transport: PeerTransport) async {
        for await _ in transport.incoming {
            count += 1
            countSnapshot.withLock { $0 = count }
        }
    }
}
