import NIOCore
import NIOWebSocket

/// Encodes Engine.IO packets as complete WebSocket frames (header and payload).
enum WebSocketFrameEncoding {
    /// One frame per packet: text packets as text frames, binary messages as binary frames (or
    /// as `b<base64>` text frames for clients that asked for base64).
    static func frames(for packets: [EnginePacket], base64Binary: Bool = false, allocator: ByteBufferAllocator)
        -> [ByteBuffer]
    {
        packets.map { frame(for: $0, base64Binary: base64Binary, allocator: allocator) }
    }

    static func frame(for packet: EnginePacket, base64Binary: Bool = false, allocator: ByteBufferAllocator)
        -> ByteBuffer
    {
        switch packet {
        case .message(.binary(let bytes)) where !base64Binary:
            var frame = allocator.buffer(capacity: bytes.readableBytes + 10)
            writeHeader(opcode: 0x2, length: bytes.readableBytes, into: &frame)
            frame.writeImmutableBuffer(bytes)
            return frame
        default:
            let length = packet.textLength
            var frame = allocator.buffer(capacity: length + 10)
            writeHeader(opcode: 0x1, length: length, into: &frame)
            packet.encodeText(into: &frame)
            return frame
        }
    }

    /// A control frame (ping, pong, close), unmasked as a server's frames are.
    static func controlFrame(_ opcode: WebSocketOpcode, data: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer
    {
        var frame = allocator.buffer(capacity: data.readableBytes + 2)
        writeHeader(opcode: UInt8(webSocketOpcode: opcode), length: data.readableBytes, into: &frame)
        frame.writeImmutableBuffer(data)
        return frame
    }

    private static func writeHeader(opcode: UInt8, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | opcode)  // FIN + opcode
        switch length {
        case 0..<126:
            buffer.writeInteger(UInt8(length))
        case 126...0xFFFF:
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }
}

extension EnginePacket {
    /// The exact length of the text form (not valid for binary messages).
    var textLength: Int {
        switch self {
        case .open(let json): 1 + json.utf8.count
        case .ping(let data?), .pong(let data?): 1 + data.utf8.count
        case .message(.text(let bytes)): 1 + bytes.readableBytes
        case .message(.binary(let bytes)): 1 + (bytes.readableBytes + 2) / 3 * 4
        default: 1
        }
    }
}
