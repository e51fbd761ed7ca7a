import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One Engine.IO v4 packet.
///
/// Over WebSocket each packet is a frame: text frames are `<type digit><data>`, binary messages are
/// the raw bytes. Over HTTP long-polling packets are joined into a payload (see ``EnginePayload``)
/// and a binary message is written `b<base64>`.
public enum EnginePacket: Sendable, Hashable {
    /// The handshake, with its JSON.
    case open(String)
    case close
    /// Heartbeat (server to client); `probe` during an upgrade (client to server).
    case ping(String?)
    case pong(String?)
    case message(EngineMessage)
    case upgrade
    case noop

    /// The digit that starts the packet's text form.
    var typeDigit: UInt8 {
        switch self {
        case .open: UInt8(ascii: "0")
        case .close: UInt8(ascii: "1")
        case .ping: UInt8(ascii: "2")
        case .pong: UInt8(ascii: "3")
        case .message: UInt8(ascii: "4")
        case .upgrade: UInt8(ascii: "5")
        case .noop: UInt8(ascii: "6")
        }
    }

    /// Why bytes are not an Engine.IO packet.
    public struct DecodingError: Error, Hashable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// Decodes the text form (a WebSocket text frame, or one packet of a polling payload, where
    /// `allowBase64Binary` lets `b<base64>` stand for a binary message).
    package static func decode(text buffer: ByteBuffer, allowBase64Binary: Bool) throws(DecodingError) -> EnginePacket {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
            throw DecodingError(reason: "empty packet")
        }
        var data = buffer
        data.moveReaderIndex(forwardBy: 1)
        func text() -> String? {
            data.readableBytes == 0 ? nil : String(buffer: data)
        }
        switch first {
        case UInt8(ascii: "0"): return .open(text() ?? "")
        case UInt8(ascii: "1"): return .close
        case UInt8(ascii: "2"): return .ping(text())
        case UInt8(ascii: "3"): return .pong(text())
        case UInt8(ascii: "4"): return .message(.text(data))
        case UInt8(ascii: "5"): return .upgrade
        case UInt8(ascii: "6"): return .noop
        case UInt8(ascii: "b") where allowBase64Binary:
            guard let decoded = Data(base64Encoded: Data(data.readableBytesView)) else {
                throw DecodingError(reason: "invalid base64 in a binary packet")
            }
            return .message(.binary(ByteBuffer(bytes: decoded)))
        default:
            throw DecodingError(reason: "unknown packet type")
        }
    }

    /// The text form; for a binary message, `b<base64>` (only valid inside a polling payload).
    func encodeText(into buffer: inout ByteBuffer) {
        switch self {
        case .message(.binary(let bytes)):
            buffer.writeInteger(UInt8(ascii: "b"))
            buffer.writeString(Data(bytes.readableBytesView).base64EncodedString())
            return
        default:
            buffer.writeInteger(typeDigit)
        }
        switch self {
        case .open(let json): buffer.writeString(json)
        case .ping(let data?), .pong(let data?): buffer.writeString(data)
        case .message(.text(let bytes)): buffer.writeImmutableBuffer(bytes)
        default: break
        }
    }
}

/// The data of a message packet: UTF-8 text or bytes.
public enum EngineMessage: Sendable, Hashable {
    case text(ByteBuffer)
    case binary(ByteBuffer)

    /// Bytes on the wire (for payload limits).
    var byteCount: Int {
        switch self {
        case .text(let buffer), .binary(let buffer): buffer.readableBytes
        }
    }
}
