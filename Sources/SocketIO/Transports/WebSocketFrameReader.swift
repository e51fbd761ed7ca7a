import NIOCore
import NIOWebSocket

/// Reads WebSocket frames (RFC 6455 §5.2) from the bytes of a connection, as NIO's
/// `WebSocketFrameDecoder` does, without being a channel handler of its own.
///
/// NIO's decoder only works inside a `ByteToMessageHandler`, which with its buffers and its
/// context cost every WebSocket connection about 540 bytes for as long as it lived, a tenth of an
/// idle connection (heaptrack, see docs/benchmarks.md). This reader is a value inside
/// ``EngineWebSocket`` and holds only the bytes of a frame not yet complete. It enforces exactly what NIO's decoder
/// does (frame length at most `maxFrameSize`, control frames unfragmented and at most 125
/// bytes) and hands out the same frames; the fuzz target `websocket-frame` checks both against
/// each other on every input.
package struct WebSocketFrameReader {
    package enum Outcome {
        /// A whole frame; its payload still masked, as NIO's decoder gives it.
        case frame(WebSocketFrame)
        /// The bytes so far end inside a frame.
        case needMoreBytes
        /// The frame breaks the protocol or the limit: the connection should close with this
        /// code. Nothing more is read.
        case failed(WebSocketErrorCode)
    }

    /// The longest frame payload accepted.
    package let maxFrameSize: Int

    /// Bytes of a frame not yet complete; `nil` between frames, so an idle connection keeps none.
    private var buffered: ByteBuffer?
    private var hasFailed = false

    package init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    /// Adds bytes read from the connection.
    package mutating func append(_ bytes: ByteBuffer) {
        guard !hasFailed, bytes.readableBytes > 0 else { return }
        if buffered == nil {
            buffered = bytes
        } else {
            buffered!.writeImmutableBuffer(bytes)
        }
    }

    /// The next frame of the bytes appended so far.
    package mutating func next() -> Outcome {
        guard !hasFailed else { return .failed(.protocolError) }
        guard var buffer = buffered else { return .needMoreBytes }
        switch Self.read(&buffer, maxFrameSize: maxFrameSize) {
        case .frame(let frame):
            buffered = buffer.readableBytes > 0 ? buffer : nil
            return .frame(frame)
        case .needMoreBytes:
            return .needMoreBytes
        case .failed(let code):
            hasFailed = true
            buffered = nil
            return .failed(code)
        }
    }

    /// Reads one frame from the start of `buffer`, moving past it only when it is complete.
    private static func read(_ buffer: inout ByteBuffer, maxFrameSize: Int) -> Outcome {
        var view = buffer
        guard let first = view.readInteger(as: UInt8.self), let second = view.readInteger(as: UInt8.self) else {
            return .needMoreBytes
        }
        let length: Int
        switch second & 0x7F {
        case 126:
            guard let word = view.readInteger(as: UInt16.self) else { return .needMoreBytes }
            length = Int(word)
        case 127:
            guard let quad = view.readInteger(as: UInt64.self) else { return .needMoreBytes }
            guard quad <= UInt64(Int.max) else { return .failed(.messageTooLarge) }
            length = Int(quad)
        case let short:
            length = Int(short)
        }
        // NIO's decoder checks these once it knows the length, before the mask arrives.
        guard length <= maxFrameSize else { return .failed(.messageTooLarge) }
        let isControl = first & 0x08 != 0
        if isControl, first & 0x80 == 0 || length > 125 { return .failed(.protocolError) }

        var maskKey: WebSocketMaskingKey?
        if second & 0x80 != 0 {
            guard view.readableBytes >= 4 else { return .needMoreBytes }
            maskKey = WebSocketMaskingKey(view.readableBytesView.prefix(4))
            view.moveReaderIndex(forwardBy: 4)
        }
        guard let data = view.readSlice(length: length) else { return .needMoreBytes }
        // Four bits always make an opcode; the guard only spares a force-unwrap.
        guard let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F) else { return .failed(.protocolError) }
        buffer = view
        let frame = WebSocketFrame(
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            rsv2: first & 0x20 != 0,
            rsv3: first & 0x10 != 0,
            opcode: opcode,
            maskKey: maskKey,
            data: data
        )
        return .frame(frame)
    }
}
