import NIOCore
import NIOWebSocket

/// The WebSocket transport of a session: a channel handler that turns frames into Engine.IO
/// packets for the session and writes the session's packets as frames.
///
/// After the upgrade, this handler is a connection's whole pipeline: it reads frames
/// (``WebSocketFrameReader``), reassembles fragmented messages (``WebSocketMessageAssembler``),
/// answers pings and closes, and writes complete frames, encoded by ``WebSocketFrameEncoding``,
/// straight to the socket (server frames are unmasked, so a broadcast's frames are encoded once
/// for all its recipients). Each handler more would cost every connection its object and
/// context for as long as it lives (see docs/benchmarks.md).
///
/// One Engine.IO packet per message: text packets as text frames, binary messages as binary
/// frames. The channel's write buffer is bounded (its high watermark is the configured
/// `maxBufferedBytes`): a client that stops reading is disconnected rather than buffered for.
final class EngineWebSocket: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let channel: any Channel
    /// Set once, on the channel's event loop, when the session is known.
    private var session: EngineSession?
    private var closing = false
    /// This handler's context while it is in the pipeline: frames are written through it.
    private var context: ChannelHandlerContext?
    private var reader: WebSocketFrameReader
    private var assembler: WebSocketMessageAssembler
    /// The client asked for binary as base64 text (`b64` in the query: `forceBase64` clients).
    let base64Binary: Bool

    /// - Parameter maxMessageBytes: the longest message, whether in one frame or in fragments.
    init(channel: any Channel, maxMessageBytes: Int, base64Binary: Bool) {
        self.channel = channel
        self.reader = WebSocketFrameReader(maxFrameSize: maxMessageBytes)
        self.assembler = WebSocketMessageAssembler(maxMessageBytes: maxMessageBytes)
        self.base64Binary = base64Binary
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
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
        guard !closing, let context else { return }
        if frames.count == 1 {
            context.writeAndFlush(NIOAny(frames[0]), promise: nil)
            return
        }
        for frame in frames {
            context.write(NIOAny(frame), promise: nil)
        }
        context.flush()
    }

    /// Sends a close frame and closes the connection (at once if the peer is not reading).
    func close() {
        channel.eventLoop.execute {
            self.finish(
                sending: WebSocketFrameEncoding.controlFrame(
                    .connectionClose, data: ByteBuffer(), allocator: self.channel.allocator))
        }
    }

    /// How long a closing connection waits for its last frame to be written.
    static let closeGracePeriod = TimeAmount.seconds(2)

    /// Ends the connection after `last` (a close frame, or nothing) and everything written
    /// before it: at once if the peer is not reading, and in any case within
    /// ``closeGracePeriod``, so a peer that stops reading cannot keep the connection open. From
    /// here on, bytes that arrive are dropped. On the channel's event loop.
    private func finish(sending last: ByteBuffer?) {
        guard !closing else { return }
        closing = true
        reader = WebSocketFrameReader(maxFrameSize: reader.maxFrameSize)
        assembler = WebSocketMessageAssembler(maxMessageBytes: assembler.maxMessageBytes)
        let channel = self.channel
        guard channel.isActive else { return }
        guard channel.isWritable else {
            channel.close(promise: nil)
            return
        }
        // An empty write completes once everything before it is written.
        channel.writeAndFlush(last ?? ByteBuffer()).whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: Self.closeGracePeriod) { channel.close(promise: nil) }
    }

    // MARK: Reading (on the channel's event loop)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A closing connection reads nothing more.
        guard !closing else { return }
        reader.append(unwrapInboundIn(data))
        // A frame may end the connection (a close, a protocol error): nothing after it is read.
        while !closing, context.channel.isActive {
            switch reader.next() {
            case .frame(let frame):
                receive(frame, context: context)
            case .needMoreBytes:
                return
            case .failed(let code):
                closeForProtocolError(code, context: context)
            }
        }
    }

    /// The opcodes RFC 6455 defines; the others are reserved.
    private static let knownOpcodes: [WebSocketOpcode] = [
        .continuation, .text, .binary, .connectionClose, .ping, .pong,
    ]

    private func receive(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        // A client masks every frame (RFC 6455 §5.1), and without a negotiated extension uses no
        // reserved bit or opcode (§5.2). An unmasked payload would also be a slice of the read it
        // arrived in, keeping all of it alive for as long as the payload is kept.
        guard frame.maskKey != nil, !frame.rsv1, !frame.rsv2, !frame.rsv3, Self.knownOpcodes.contains(frame.opcode)
        else {
            closeForProtocolError(.protocolError, context: context)
            return
        }
        switch assembler.receive(frame, allocator: context.channel.allocator) {
        case .incomplete:
            break
        case .message(.text, let data):
            guard let session else { return }
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
        case .message(_, let data):
            session?.webSocket(self, received: .message(.binary(data)))
        case .control(let frame):
            receiveControl(frame, context: context)
        case .failed(let code):
            closeForProtocolError(code, context: context)
        }
    }

    private func receiveControl(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        switch frame.opcode {
        case .ping:
            let pong = WebSocketFrameEncoding.controlFrame(
                .pong, data: frame.unmaskedData, allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            // Echo the close (its code, if it has one) and end the connection; a close that
            // answers ours ends it at once.
            var data = frame.unmaskedData
            guard data.readableBytes != 1 else {
                closeForProtocolError(.protocolError, context: context)
                return
            }
            if closing {
                context.close(promise: nil)
            } else {
                let code = data.readSlice(length: min(2, data.readableBytes)) ?? ByteBuffer()
                finish(
                    sending: WebSocketFrameEncoding.controlFrame(
                        .connectionClose, data: code, allocator: context.channel.allocator))
            }
        default:
            break
        }
    }

    /// Tells the client why (a close frame with `code`) and ends the connection.
    private func closeForProtocolError(_ code: WebSocketErrorCode, context: ChannelHandlerContext) {
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        finish(
            sending: WebSocketFrameEncoding.controlFrame(
                .connectionClose, data: data, allocator: context.channel.allocator))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // The server is shutting down: the client is told and reconnects elsewhere.
            session?.close(reason: .serverShuttingDown)
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            // The client shut its side without a close frame (the server allows half-closed
            // connections for HTTP): nothing more can arrive, so the connection ends once what
            // was written to it is, rather than wait in CLOSE-WAIT for the heartbeat to fail.
            finish(sending: nil)
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
