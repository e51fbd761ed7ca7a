import NIOCore

/// Watches each HTTP connection for the events Engine.IO must react to.
///
/// - Shutdown: Hummingbird tells each connection to quiesce (`ChannelShouldQuiesceEvent`) and
///   waits for them all to close. The first one starts the Engine.IO shutdown (once): waiting
///   polls get the close packet and WebSockets close, so clients reconnect (to another instance)
///   and a long-poll does not hold shutdown up until its next ping.
/// - A client that closes its side (`inputClosed`): the server allows half-closed connections,
///   but a poll's client that sent FIN is gone; closing the connection lets the session notice
///   at once instead of at its ping timeout.
final class EngineShutdownHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private let servers: [EngineIOServer]

    init(servers: [EngineIOServer]) {
        self.servers = servers
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            for server in servers { server.beginShutdown() }
        }
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
