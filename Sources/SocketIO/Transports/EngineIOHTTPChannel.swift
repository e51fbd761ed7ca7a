import EventLoopExecutor
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// A Hummingbird server channel that serves HTTP/1.1 as usual and upgrades WebSocket requests
/// for Engine.IO paths straight into an ``EngineWebSocket`` channel handler.
///
/// Upgraded connections need no task of their own: the NIO handler feeds the session and the
/// connection lives as long as its channel. The Engine.IO checks (transport, session id, the
/// application's request check, protocol version) run before the `101`, so a refused WebSocket
/// gets a `400`/`403` with the Engine.IO error body.
public struct EngineIOHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    public struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        public let channel: any Channel
    }

    enum UpgradeResult: Sendable {
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, EngineDenial?)
        case webSocket
    }

    /// The outcome of the checks, carried from `shouldUpgrade` to the pipeline setup.
    private struct Checked {
        let server: EngineIOServer
        let result: Result<EngineIOServer.Target, EngineDenial>
        let handshake: EngineHandshake
    }

    public let responder: HTTPChannelHandler.Responder
    let servers: [EngineIOServer]
    let configuration: HTTP1Channel.Configuration
    let limits: HTTPConnectionGuardStateMachine.Limits

    /// - Parameter limits: how long a connection may take to send a request and may stay idle
    ///   (``HTTPConnectionGuard``); WebSocket connections leave them behind at the upgrade.
    public init(
        responder: @escaping HTTPChannelHandler.Responder,
        servers: [EngineIOServer],
        configuration: HTTP1Channel.Configuration = .init(),
        limits: HTTPConnectionGuardStateMachine.Limits = .init()
    ) {
        self.responder = responder
        self.servers = servers
        self.configuration = configuration
        self.limits = limits
    }

    /// The receive buffer a connection starts with. NIO keeps each channel's buffer between reads
    /// and never shrinks it; its default first size, 2 KiB, was a fifth of an idle WebSocket
    /// connection's memory. A request or frame that fills the buffer makes the next one larger.
    static let receiveBuffer = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536)

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffer)
            let checked = NIOLoopBoundBox<Checked?>(nil, eventLoop: channel.eventLoop)
            let connectionGuard = NIOLoopBound(HTTPConnectionGuard(limits: limits), eventLoop: channel.eventLoop)
            let upgradeAttempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let handshakeDenial = NIOLoopBoundBox<EngineDenial?>(nil, eventLoop: channel.eventLoop)
            let upgrader = EngineWebSocketUpgrader<UpgradeResult>(
                shouldUpgrade: { channel, head in
                    upgradeAttempted.value = true
                    return self.check(head, channel: channel).map { result in
                        checked.value = result
                        guard let result, case .success = result.result else { return nil }
                        return HTTPHeaders()
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard let checked = checked.value, case .success(let target) = checked.result else {
                            throw ChannelError.inappropriateOperationForState
                        }
                        // A WebSocket has its own liveness (Engine.IO pings), not HTTP's limits.
                        channel.pipeline.syncOperations.removeHandler(connectionGuard.value, promise: nil)
                        try Self.attachWebSocket(to: channel, checked: checked, target: target)
                        return UpgradeResult.webSocket
                    }
                },
                refuse: { _, denial in
                    upgradeAttempted.value = true
                    handshakeDenial.value = denial
                }
            )
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(EngineShutdownHandler(servers: self.servers))
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandlers(self.configuration.additionalChannelHandlers())
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(
                                idleTimeout: self.configuration.idleTimeout.map { .init($0) }, logger: logger)
                        )
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if upgradeAttempted.value {
                            return UpgradeResult.refused(
                                asyncChannel, handshakeDenial.value ?? checked.value?.result.denial)
                        }
                        return UpgradeResult.notUpgraded(asyncChannel)
                    }
                }
            )
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(
                upgradeConfiguration: upgradeConfiguration)
            pipeline.enablePipelining = false
            pipeline.enableErrorHandling = false
            pipeline.enableResponseHeaderValidation = false
            pipeline.decoderConfiguration.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
            pipeline.decoderConfiguration.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
            pipeline.decoderConfiguration.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: pipeline)
            // Right after the decoder, so that it sees its parse errors first.
            let upgradeHandler = try channel.pipeline.syncOperations.handler(
                type: NIOTypedHTTPServerUpgradeHandler<UpgradeResult>.self)
            try channel.pipeline.syncOperations.addHandler(connectionGuard.value, position: .before(upgradeHandler))
            return Value(upgradeResult: result, channel: channel)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        // The connection's task (the upgrade's outcome, Hummingbird's handler, the routes, what
        // they await) runs on the connection's event loop: a request, a store's answer and the
        // response need no hop to the concurrency pool and back (EventLoopTaskExecutor).
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            do {
                switch try await value.upgradeResult.get() {
                case .notUpgraded(let http1):
                    await handleHTTP(asyncChannel: http1, logger: logger)
                case .refused(let http1, let denial):
                    await Self.writeRefusal(denial, to: http1)
                case .webSocket:
                    // The channel's handlers own the connection from here.
                    break
                }
            } catch {
                logger.debug("Connection setup failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Runs the Engine.IO checks for a WebSocket request; `nil` when no server has its path.
    private func check(_ head: HTTPRequestHead, channel: any Channel) -> EventLoopFuture<Checked?> {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard let server = servers.first(where: { $0.matches(path: path) }) else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let query = EngineIOServer.query(of: URI(head.uri))
        var headers = HTTPFields()
        for (name, value) in head.headers {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        let request = EngineRequest(
            method: HTTPRequest.Method(head.method.rawValue) ?? .get,
            authority: head.headers["host"].first,
            path: String(path),
            query: query,
            headers: headers,
            remoteAddress: channel.remoteAddress,
            isWebSocket: true
        )
        let handshake = EngineHandshake(headers: headers, query: query, remoteAddress: channel.remoteAddress)
        let promise = channel.eventLoop.makePromise(of: Checked?.self)
        promise.completeWithTask {
            let result = await server.validate(method: request.method, query: query, isUpgrade: true, request: request)
            return Checked(server: server, result: result, handshake: handshake)
        }
        return promise.futureResult
    }

    private static func attachWebSocket(
        to channel: any Channel,
        checked: Checked,
        target: EngineIOServer.Target
    ) throws {
        let configuration = checked.server.configuration
        let handler = EngineWebSocket(
            channel: channel,
            maxMessageBytes: configuration.maxPayload,
            base64Binary: checked.handshake.query["b64"] != nil
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        let watermark = ChannelOptions.Types.WriteBufferWaterMark(
            low: configuration.maxBufferedBytes / 2,
            high: configuration.maxBufferedBytes
        )
        try channel.syncOptions?.setOption(ChannelOptions.writeBufferWaterMark, value: watermark)
        switch target {
        case .handshake(_, let binding):
            let session = checked.server.openSession(
                transport: .websocket,
                handshake: checked.handshake,
                binding: binding,
                eventLoop: channel.eventLoop,
                webSocket: handler
            )
            handler.attach(to: session)
        case .session(let session):
            handler.attach(to: session)
            session.webSocketOpened(handler)
        }
    }

    private static func writeRefusal(
        _ denial: EngineDenial?,
        to channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
    ) async {
        let body = ByteBuffer(string: denial.map { $0.error.body(message: $0.message) } ?? "")
        var headers: HTTPFields = [.connection: "close", .contentLength: String(body.readableBytes)]
        if denial != nil { headers[.contentType] = "application/json" }
        let status = denial?.status ?? .badRequest
        try? await channel.executeThenClose { _, outbound in
            try await outbound.write(contentsOf: [
                .head(HTTPResponse(status: status, headerFields: headers)),
                .body(body),
                .end(nil),
            ])
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with WebSocket upgrades for the given Engine.IO (and so Socket.IO) servers.
    public static func http1WithEngineIO(
        _ servers: [EngineIOServer],
        configuration: HTTP1Channel.Configuration = .init(),
        limits: HTTPConnectionGuardStateMachine.Limits = .init()
    ) -> HTTPServerBuilder {
        .init { responder in
            EngineIOHTTPChannel(responder: responder, servers: servers, configuration: configuration, limits: limits)
        }
    }
}

extension Result where Failure == EngineDenial {
    fileprivate var denial: EngineDenial? {
        if case .failure(let denial) = self { return denial }
        return nil
    }
}
