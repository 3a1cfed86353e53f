import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RaftCore
import WRaftCertificates
import WRaftSupport

/// Completes `reply` with the first frame of kind `expected` the remote sends on a connection
/// we opened; fails it when the connection ends first or sends anything else. The promise
/// lives on the connection's event loop.
final class ReplyHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    private let expected: FrameKind
    private let reply: EventLoopPromise<Frame>
    private let address: HostPort

    init(expected: FrameKind, reply: EventLoopPromise<Frame>, address: HostPort) {
        self.expected = expected
        self.reply = reply
        self.address = address
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.kind == expected {
            reply.succeed(frame)
        } else {
            reply.fail(TransportError.connectionFailed(address: "\(address)", reason: "unexpected \(frame.kind) frame"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        reply.fail(TransportError.connectionFailed(address: "\(address)", reason: "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        reply.fail(TransportError.connectionFailed(address: "\(address)", reason: "\(error)"))
        context.close(promise: nil)
    }
}

extension TransportCore {
    /// Opens a connection to `address` whose replies complete the returned promise (see
    /// `ReplyHandler`). Used by control calls and snapshot transfers, which each get their own
    /// connection so they never queue behind (or hold up) Raft traffic.
    func openReplyConnection(
        to address: HostPort, expecting kind: FrameKind, reply: EventLoopPromise<Frame>, connectTimeout: Duration,
        listenerKey: PublicKeyFingerprint? = nil
    ) -> EventLoopFuture<any Channel> {
        let eventLoop = reply.futureResult.eventLoop
        let frameBytesMax = options.frameBytesMax
        let channel = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [tlsContexts, logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = tlsContexts {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls.client, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHandler(
                            ListenerKeyCheck(expected: listenerKey, logger: logger))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(frameBytesMax: frameBytesMax)))
                    try channel.pipeline.syncOperations.addHandler(
                        ReplyHandler(expected: kind, reply: reply, address: address))
                }
            }
            .connect(host: address.host, port: address.port)
        channel.whenFailure { error in
            reply.fail(TransportError.connectionFailed(address: "\(address)", reason: "\(error)"))
        }
        return channel
    }
}

/// Awaits `future`, closing `channel` when `timeout` passes first (which fails whatever waits
/// on the channel, so the await ends with an error).
func awaitOrClose<Value: Sendable>(
    _ future: EventLoopFuture<Value>, channel: any Channel, timeout: Duration
) async throws -> Value {
    let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { channel.close(promise: nil) }
    defer { timer.cancel() }
    return try await future.get()
}
