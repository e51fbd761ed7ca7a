import NIOCore
import OrderedCollections

/// Turns a client's Engine.IO messages into Socket.IO packets: parses the text form, validates it
/// as the reference parser does, and reassembles binary attachments.
///
/// A state machine: idle, or reconstructing a binary packet until its attachments have arrived.
/// Any error means the client is broken or hostile; the caller closes the connection.
package struct SocketPacketDecoder {
    private enum State {
        case idle
        case reconstructing(header: SocketPacket, expected: Int, buffers: [ByteBuffer], bytes: Int)
    }

    /// A complete packet and how many bytes of input it took.
    package struct Decoded: Hashable {
        package var packet: SocketPacket
        package var byteCount: Int
    }

    let maxAttachments: Int
    /// Most bytes all attachments of one packet may add up to.
    let maxAttachmentBytes: Int
    private var state = State.idle

    package init(maxAttachments: Int = 10, maxAttachmentBytes: Int = 1_000_000) {
        self.maxAttachments = maxAttachments
        self.maxAttachmentBytes = maxAttachmentBytes
    }

    /// Whether a binary packet is waiting for attachments.
    var isReconstructing: Bool {
        if case .reconstructing = state { return true }
        return false
    }

    /// A complete packet, or `nil` while attachments are outstanding.
    package mutating func decode(_ message: EngineMessage) throws(SocketProtocolError) -> Decoded? {
        switch (state, message) {
        case (.idle, .text(let text)):
            let (packet, attachments) = try Self.parse(text, maxAttachments: maxAttachments)
            guard attachments > 0 else {
                return Decoded(packet: try Self.resolve(packet, attachments: []), byteCount: text.readableBytes)
            }
            state = .reconstructing(header: packet, expected: attachments, buffers: [], bytes: text.readableBytes)
            return nil
        case (.idle, .binary):
            throw .unexpectedBinary
        case (.reconstructing, .text):
            throw .unexpectedText
        case (.reconstructing(let header, let expected, var buffers, var bytes), .binary(let buffer)):
            buffers.append(buffer)
            bytes += buffer.readableBytes
            guard bytes <= maxAttachmentBytes + 64 * 1024 else { throw .attachmentsTooLarge }
            guard buffers.count == expected else {
                state = .reconstructing(header: header, expected: expected, buffers: buffers, bytes: bytes)
                return nil
            }
            state = .idle
            return Decoded(packet: try Self.resolve(header, attachments: buffers), byteCount: bytes)
        }
    }

    /// Parses the text form; returns the packet (placeholders unresolved) and its attachment count.
    static func parse(_ text: ByteBuffer, maxAttachments: Int) throws(SocketProtocolError) -> (SocketPacket, Int) {
        let bytes = Array(text.readableBytesView)
        var index = 0
        guard let first = bytes.first, first >= UInt8(ascii: "0"),
            let kind = SocketPacket.Kind(rawValue: first &- UInt8(ascii: "0"))
        else { throw .unknownType }
        index = 1
        var attachments = 0
        if kind == .binaryEvent || kind == .binaryAck {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "-") {
                guard bytes[index].isDigit, index - start < 6 else { throw .illegalAttachments }
                index += 1
            }
            guard index < bytes.count, index > start,
                let count = Int(String(decoding: bytes[start..<index], as: UTF8.self))
            else { throw .illegalAttachments }
            guard count <= maxAttachments else { throw .tooManyAttachments }
            attachments = count
            index += 1  // "-"
        }
        var namespace = "/"
        if index < bytes.count, bytes[index] == UInt8(ascii: "/") {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ",") { index += 1 }
            namespace = String(decoding: bytes[start..<index], as: UTF8.self)
            if index < bytes.count { index += 1 }  // ","
        }
        var id: Int64?
        if index < bytes.count, bytes[index].isDigit {
            let start = index
            while index < bytes.count, bytes[index].isDigit { index += 1 }
            guard let value = Int64(String(decoding: bytes[start..<index], as: UTF8.self)) else { throw .invalidAckID }
            id = value
        }
        var data: SocketValue?
        if index < bytes.count {
            do {
                data = try bytes[index...].withUnsafeBytes { try SocketValue.parse($0) }
            } catch {
                throw .invalidPayload
            }
        }
        guard isValid(data, for: kind) else { throw .invalidPayload }
        return (SocketPacket(kind: kind, namespace: namespace, id: id, data: data), attachments)
    }

    /// The reference parser's payload rules per packet type.
    static func isValid(_ data: SocketValue?, for kind: SocketPacket.Kind) -> Bool {
        switch kind {
        case .connect:
            guard let data else { return true }
            if case .object = data { return true }
            return false
        case .disconnect:
            return data == nil
        case .connectError:
            switch data {
            case .string?, .object?: return true
            default: return false
            }
        case .event, .binaryEvent:
            guard case .array(let elements)? = data, let name = elements.first else { return false }
            switch name {
            case .int, .double: return true
            case .string(let event): return !SocketPacket.reservedEvents.contains(event)
            default: return false
            }
        case .ack, .binaryAck:
            if case .array? = data { return true }
            return false
        }
    }

    /// Puts the attachments in place of their placeholders; binary kinds become plain ones.
    static func resolve(_ packet: SocketPacket, attachments: [ByteBuffer]) throws(SocketProtocolError) -> SocketPacket {
        var resolved = packet
        switch packet.kind {
        case .binaryEvent: resolved.kind = .event
        case .binaryAck: resolved.kind = .ack
        default: break
        }
        if let data = packet.data, packet.kind == .binaryEvent || packet.kind == .binaryAck {
            resolved.data = try replacePlaceholders(in: data, with: attachments)
        }
        return resolved
    }

    private static func replacePlaceholders(in value: SocketValue, with buffers: [ByteBuffer])
        throws(SocketProtocolError)
        -> SocketValue
    {
        switch value {
        case .array(let elements):
            var replaced: [SocketValue] = []
            replaced.reserveCapacity(elements.count)
            for element in elements { replaced.append(try replacePlaceholders(in: element, with: buffers)) }
            return .array(replaced)
        case .object(let members):
            if members["_placeholder"] == .bool(true) {
                guard let number = members["num"]?.intValue, number >= 0, number < buffers.count else {
                    throw .illegalAttachments
                }
                return .binary(buffers[Int(number)])
            }
            var replaced = OrderedDictionary<String, SocketValue>()
            for (key, member) in members { replaced[key] = try replacePlaceholders(in: member, with: buffers) }
            return .object(replaced)
        default:
            return value
        }
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
}
