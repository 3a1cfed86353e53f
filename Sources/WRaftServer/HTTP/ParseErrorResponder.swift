import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import WRaftAPI

/// Answers a request that cannot be parsed as HTTP with the API's JSON error
/// (`400 bad_request`, `{"error": ..., "message": ...}`) and closes the connection, where the
/// server would otherwise send a bare 400.
///
/// It sits after the HTTP codec. It answers only between requests: when a parse error follows
/// a request whose response is still to be written, the server's own 400 comes after that
/// response, in order.
final class ParseErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests whose head arrived and whose response has not ended yet.
    private var requestsInFlight = 0
    private var hasAnswered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { requestsInFlight += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { requestsInFlight = max(0, requestsInFlight - 1) }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError, requestsInFlight == 0, !hasAnswered else {
            context.fireErrorCaught(error)
            return
        }
        hasAnswered = true
        let code = ErrorCode.badRequest
        let body = ErrorBody(code: code, message: "the request is not valid HTTP/1.1 (\(parseError))").encodedJSON()
        let head = HTTPResponse(
            status: HTTPResponse.Status(code: code.httpStatus),
            headerFields: [.contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
