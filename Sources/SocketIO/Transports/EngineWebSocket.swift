import NIOCore
import NIOWebSocket

/// The WebSocket transport of a session: a channel handler that turns frames into Engine.IO
/// packets for the session and writes the session's packets as frames.
///
/// One Engine.IO packet per frame: text packets as text frames, binary messages as binary
/// frames. The channel's write buffer is bounded (its high watermark is the configured
/// `maxBufferedBytes`): a client that stops reading is disconnected rather than buffered for.
final class EngineWebSocket: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let channel: any Channel
    /// Set once, on the channel's event loop, when the session is known.
    private var session: EngineSession?
    private var closing = false
    /// Writes complete frames straight to the socket (see ``WebSocketFrameWriter``).
    private let frameOutput: ChannelHandlerContext
    /// The client asked for binary as base64 text (`b64` in the query: `forceBase64` clients).
    let base64Binary: Bool

    init(channel: any Channel, frameOutput: ChannelHandlerContext, base64Binary: Bool) {
        self.channel = channel
        self.frameOutput = frameOutput
        self.base64Binary = base64Binary
    }

    /// Connects the handler to its session (after the WebSocket handshake).
    func attach(to session: EngineSession) {
        channel.eventLoop.assertInEventLoop()
        self.session = session
        self.sharesSessionLoop = session.eventLoop === channel.eventLoop
    }

    // MARK: Writing (from the session's event loop)

    func write(_ packets: [EnginePacket]) {
        guard !packets.isEmpty else { return }
        writeFrames(
            WebSocketFrameEncoding.frames(for: packets, base64Binary: base64Binary, allocator: channel.allocator))
    }

    /// Writes complete frames, in order, after everything written before.
    func writeFrames(_ frames: [ByteBuffer]) {
        if sharesSessionLoop || channel.eventLoop.inEventLoop {
            writeFramesOnLoop(frames)
        } else {
            channel.eventLoop.execute { self.writeFramesOnLoop(frames) }
        }
    }

    /// Whether the channel runs on its session's event loop (always, unless it upgraded a
    /// polling session that lives on another loop), so writes from the session need no hop.
    private var sharesSessionLoop = false

    private func writeFramesOnLoop(_ frames: [ByteBuffer]) {
        guard !closing else { return }
        if frames.count == 1 {
            frameOutput.writeAndFlush(NIOAny(frames[0]), promise: nil)
            return
        }
        for frame in frames {
            frameOutput.write(NIOAny(frame), promise: nil)
        }
        frameOutput.flush()
    }

    /// Sends a close frame and closes the connection (at once if the peer is not reading).
    func close() {
        let channel = self.channel
        channel.eventLoop.execute {
            guard !self.closing else { return }
            self.closing = true
            guard channel.isActive else { return }
            if channel.isWritable {
                let frame = WebSocketFrame(
                    fin: true, opcode: .connectionClose, data: channel.allocator.buffer(capacity: 0))
                channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
                // A peer that never acknowledges must not keep the connection.
                channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        }
    }

    // MARK: Reading (on the channel's event loop)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            guard let session else { return }
            let data = frame.unmaskedData
            // Text frames must be UTF-8 (RFC 6455); `b<base64>` carries binary for clients that
            // cannot send binary frames.
            guard
                data.readableBytesView.withContiguousStorageIfAvailable({ String(validating: $0, as: UTF8.self) != nil }
                )
                    ?? (String(validating: Array(data.readableBytesView), as: UTF8.self) != nil),
                let packet = try? EnginePacket.decode(text: data, allowBase64Binary: true)
            else {
                session.webSocketReceivedInvalidPacket(self)
                return
            }
            session.webSocket(self, received: packet)
        case .binary:
            session?.webSocket(self, received: .message(.binary(frame.unmaskedData)))
        case .ping:
            var data = frame.unmaskedData
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: data.readSlice(length: data.readableBytes)!)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            // Echo the close and end the connection.
            if !closing {
                closing = true
                var data = frame.unmaskedData
                let code =
                    data.readSlice(length: min(2, data.readableBytes)) ?? context.channel.allocator.buffer(capacity: 0)
                let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: code)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // The server is shutting down: the client is told and reconnects elsewhere.
            session?.close(reason: .serverShuttingDown)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable {
            session?.webSocketOverflowed(self)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        session?.webSocketClosed(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
