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

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects the handler to its session (after the WebSocket handshake).
    func attach(to session: EngineSession) {
        channel.eventLoop.assertInEventLoop()
        self.session = session
    }

    // MARK: Writing (from the session's event loop)

    func write(_ packets: [EnginePacket]) {
        guard !packets.isEmpty else { return }
        let allocator = channel.allocator
        for packet in packets {
            let frame: WebSocketFrame
            switch packet {
            case .message(.binary(let bytes)):
                frame = WebSocketFrame(fin: true, opcode: .binary, data: bytes)
            default:
                var buffer = allocator.buffer(capacity: packet.estimatedSize)
                packet.encodeText(into: &buffer)
                frame = WebSocketFrame(fin: true, opcode: .text, data: buffer)
            }
            channel.write(frame, promise: nil)
        }
        channel.flush()
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
            do {
                let packet = try EnginePacket.decode(text: frame.unmaskedData, allowBase64Binary: false)
                session.webSocket(self, received: packet)
            } catch {
                session.webSocketReceivedInvalidPacket(self)
            }
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
