import NIOCore
import NIOHTTP1

/// Answers each request on a connection from `HTTPRoutes`. Request bodies are ignored;
/// an idle connection is closed.
final class HTTPPageHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: HTTPRoutes
    private var request: HTTPRequestHead?

    init(routes: HTTPRoutes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let page = routes.page(method: head.method, uri: head.uri)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: page.contentType)
        headers.add(name: "Content-Length", value: String(page.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if let allow = page.allow { headers.add(name: "Allow", value: allow) }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }

        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: page.status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: page.body)))),
                          promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        if !keepAlive {
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in context.value.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
