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
///
/// NIO's handshake fails a request without exactly one `Sec-WebSocket-Key` or with a version
/// other than 13 without asking `shouldUpgrade`, and the connection then gets no answer at all.
/// This upgrader checks those headers first (as the `ws` package under Node's Engine.IO does, which
/// also takes the draft version 8) and hands a bad handshake to `refuse`, so that the client gets a
/// `400` saying which header is wrong.
struct EngineWebSocketUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader {
    private let handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>
    private let upgradePipelineHandler: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>
    private let refuse: @Sendable (any Channel, EngineDenial) -> Void

    /// - Parameters:
    ///   - shouldUpgrade: whether to accept the request, and the extra headers of the `101` (`nil`
    ///     refuses it).
    ///   - upgradePipelineHandler: adds the transport's handler.
    ///   - refuse: told of a request whose handshake headers are wrong, on the channel's event
    ///     loop, before the upgrade is given up.
    init(
        shouldUpgrade: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
        upgradePipelineHandler: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>,
        refuse: @escaping @Sendable (any Channel, EngineDenial) -> Void
    ) {
        self.handshake = NIOTypedWebSocketServerUpgrader(
            shouldUpgrade: shouldUpgrade,
            upgradePipelineHandler: upgradePipelineHandler
        )
        self.upgradePipelineHandler = upgradePipelineHandler
        self.refuse = refuse
    }

    var supportedProtocol: String { handshake.supportedProtocol }
    var requiredUpgradeHeaders: [String] { handshake.requiredUpgradeHeaders }

    func buildUpgradeResponse(
        channel: any Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        if let problem = Self.handshakeProblem(upgradeRequest.headers) {
            let denial = EngineDenial(.badRequest, message: problem)
            refuse(channel, denial)
            return channel.eventLoop.makeFailedFuture(denial)
        }
        return handshake.buildUpgradeResponse(
            channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        upgradePipelineHandler(channel, upgradeRequest)
    }

    /// What is wrong with a request's WebSocket handshake headers, or `nil`: RFC 6455 §4.2.1 wants
    /// one `Sec-WebSocket-Key` that is 16 bytes in base64, and version 13.
    static func handshakeProblem(_ headers: HTTPHeaders) -> String? {
        let keys = headers[canonicalForm: "sec-websocket-key"]
        guard keys.count == 1, isHandshakeKey(keys[0]) else {
            return "Missing or invalid Sec-WebSocket-Key header"
        }
        let versions = headers[canonicalForm: "sec-websocket-version"]
        guard versions.count == 1, versions[0] == "13" else {
            return "Missing or invalid Sec-WebSocket-Version header"
        }
        return nil
    }

    /// 16 bytes in base64: 22 characters of the alphabet, then `==`.
    private static func isHandshakeKey(_ key: Substring) -> Bool {
        let bytes = key.utf8
        guard bytes.count == 24, bytes.suffix(2).elementsEqual("==".utf8) else { return false }
        return bytes.prefix(22).allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                true
            default: false
            }
        }
    }
}
