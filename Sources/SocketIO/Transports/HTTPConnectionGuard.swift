import NIOCore
import NIOHTTP1

/// Sits right after the HTTP/1.1 decoder of every connection and performs what
/// ``HTTPConnectionGuardStateMachine`` decides: answers the requests the decoder refuses (a NUL
/// in a header, a negative `Content-Length`, TLS bytes on the plain port, a head over the size
/// limits) with `400`/`431` and closes, and closes connections that do not send a request, or
/// its body, in time, or that stay idle between requests.
///
/// Without it such a connection stayed open for good: before the WebSocket upgrade decision
/// nothing else in the pipeline reacts to a parse error, and nothing watched an idle connection.
///
/// It passes every message on unchanged, and accepts messages that are not HTTP parts (the
/// bytes the decoder forwards when it is removed for a WebSocket upgrade), so that it is safe in
/// the pipeline until the upgrade removes it.
package final class HTTPConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = Any
    package typealias InboundOut = Any
    package typealias OutboundIn = Any
    package typealias OutboundOut = HTTPServerResponsePart

    private var state: HTTPConnectionGuardStateMachine
    private var timer: Scheduled<Void>?
    private var started = false
    private let now: () -> NIODeadline

    /// - Parameter now: the clock (tests pass their event loop's).
    package init(limits: HTTPConnectionGuardStateMachine.Limits, now: @escaping () -> NIODeadline = { .now() }) {
        state = HTTPConnectionGuardStateMachine(limits: limits)
        self.now = now
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    package func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let part = unwrapInboundIn(data) as? HTTPServerRequestPart {
            perform(state.requestPartReceived(part, now: now()), context: context)
        }
        context.fireChannelRead(data)
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let action = (unwrapOutboundIn(data) as? HTTPServerResponsePart).map {
            state.responsePartWritten($0, now: now())
        }
        context.write(data, promise: promise)
        if let action { perform(action, context: context) }
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        perform(state.parseFailed(error), context: context)
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            perform(state.quiesce(), context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        perform(state.connectionStarted(now: now()), context: context)
    }

    private func perform(_ action: HTTPConnectionGuardStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .schedule(let deadline):
            timer?.cancel()
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(deadline: deadline) {
                let (handler, context) = loopBound.value
                handler.timer = nil
                handler.perform(handler.state.timerFired(now: handler.now()), context: context)
            }
        case .cancelTimer:
            timer?.cancel()
            timer = nil
        case .respondAndClose(let status):
            timer?.cancel()
            timer = nil
            let head = HTTPResponseHead(
                version: .http1_1,
                status: status,
                headers: ["Connection": "close", "Content-Length": "0"]
            )
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        case .close:
            timer?.cancel()
            timer = nil
            context.close(promise: nil)
        }
    }
}
