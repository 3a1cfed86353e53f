import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// An HTTPS/1.1 server on 127.0.0.1 (SwiftNIO + NIOSSL) for testing the client side of TLS
/// without a node: it presents `certificateFile`, optionally requires a client certificate from
/// `clientCAFile`, records every request and answers each with `reply`.
final class FakeHTTPSServer: Sendable {
    struct Request: Sendable {
        var method: String
        var target: String
        var headers: [String: String]
    }

    struct Reply: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []
    }

    let port: Int
    private let channel: any Channel
    private let recorded: RequestLog

    /// The requests seen, shared with the connections' handlers.
    final class RequestLog: Sendable {
        let requests = Mutex<[Request]>([])
    }

    init(
        certificateFile: String, keyFile: String, clientCAFile: String? = nil,
        reply: @escaping @Sendable (Request) -> Reply
    ) async throws {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        if let clientCAFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCAFile))
            configuration.certificateVerification = .noHostnameVerification
        }
        let context = try NIOSSLContext(configuration: configuration)
        let recorded = RequestLog()
        let recorder: @Sendable (Request) -> Reply = { request in
            recorded.requests.withLock { $0.append(request) }
            return reply(request)
        }
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(reply: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.port = channel.localAddress?.port ?? 0
        self.recorded = recorded
    }

    var address: String { "127.0.0.1:\(port)" }
    var requests: [Request] { recorded.requests.withLock { $0 } }

    func stop() async {
        try? await channel.close()
    }
}

private final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let reply: @Sendable (FakeHTTPSServer.Request) -> FakeHTTPSServer.Reply
    private var head: HTTPRequestHead?

    init(reply: @escaping @Sendable (FakeHTTPSServer.Request) -> FakeHTTPSServer.Reply) {
        self.reply = reply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let answer = reply(.init(method: head.method.rawValue, target: head.uri, headers: headers))
            var responseHeaders = HTTPHeaders(answer.headers)
            responseHeaders.add(name: "Content-Length", value: String(answer.body.count))
            let responseHead = HTTPResponseHead(
                version: .http1_1, status: HTTPResponseStatus(statusCode: answer.status), headers: responseHeaders)
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
