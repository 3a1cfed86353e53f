import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Tries a TLS handshake with a port, presenting a client certificate, and says whether it
/// completed and the connection then stayed open for `settleMs`: the check that a raft port
/// really speaks mutual TLS. (With TLS 1.3 the client finishes its handshake before the server
/// has judged the client's certificate; a refusal then arrives as an alert just after.)
enum TLSProbe {
    static func handshake(
        host: String, port: Int, certificateFile: String, keyFile: String, trustedCAFile: String, timeoutMs: Int = 5_000,
        settleMs: Int = 500
    ) async -> Result<Void, any Error> {
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(trustedCAFile))
            let context = try NIOSSLContext(configuration: configuration)
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let done = loop.makePromise(of: Void.self)
            let closed = loop.makePromise(of: Void.self)
            // Every path completes both promises (completing one twice is a no-op).
            defer {
                done.fail(ChannelError.ioOnClosedChannel)
                closed.fail(ChannelError.ioOnClosedChannel)
            }
            let channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.milliseconds(Int64(timeoutMs)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(promise: done, closed: closed))
                    }
                }
                .connect(host: host, port: port).get()
            let timer = loop.scheduleTask(in: .milliseconds(Int64(timeoutMs))) { done.fail(ChannelError.connectTimeout(.milliseconds(Int64(timeoutMs)))) }
            defer {
                timer.cancel()
                channel.close(promise: nil)
                closed.succeed()
            }
            try await done.futureResult.get()
            try await Task.sleep(for: .milliseconds(settleMs))
            closed.succeed()
            try await closed.futureResult.get()
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    private final class HandshakeWatcher: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        let promise: EventLoopPromise<Void>
        /// Failed when the connection breaks: completing it later with success has no effect.
        let closed: EventLoopPromise<Void>
        init(promise: EventLoopPromise<Void>, closed: EventLoopPromise<Void>) {
            self.promise = promise
            self.closed = closed
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent { promise.succeed() }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            closed.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
            closed.fail(ChannelError.eof)
            context.fireChannelInactive()
        }
    }
}
