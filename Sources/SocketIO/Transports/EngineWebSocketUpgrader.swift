import NIOCore
import NIOHTTP1
import NIOWebSocket

/// NIO's WebSocket server upgrader, leaving the pipeline after the `101` to the transport (one
/// ``EngineWebSocket``).
///
/// The handshake's checks and answer (`Sec-WebSocket-Key`, version 13, `Sec-WebSocket-Accept`)
/// are NIO's `NIOTypedWebSocketServerUpgrader`'s. Its own `upgrade` adds a frame decoder, a frame
/// encoder and an error handler in front of the application's handlers; the Engine.IO transport
/// reads and writes frames itself, and every handler stays in memory for as long as its
/// connection lives, so this upgrader adds none.
struct EngineWebSocketUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader {
    private let handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>
    private let upgradePipelineHandler: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>

    /// - Parameters:
    ///   - shouldUpgrade: whether to accept the request, and the extra headers of the `101` (`nil`
    ///     refuses it).
    ///   - upgradePipelineHandler: adds the transport's handler.
    init(
        shouldUpgrade: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
        upgradePipelineHandler: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>
    ) {
        self.handshake = NIOTypedWebSocketServerUpgrader(
            shouldUpgrade: shouldUpgrade,
            upgradePipelineHandler: upgradePipelineHandler
        )
        self.upgradePipelineHandler = upgradePipelineHandler
    }

    var supportedProtocol: String { handshake.supportedProtocol }
    var requiredUpgradeHeaders: [String] { handshake.requiredUpgradeHeaders }

    func buildUpgradeResponse(
        channel: any Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        handshake.buildUpgradeResponse(
            channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        upgradePipelineHandler(channel, upgradeRequest)
    }
}
