import NIOCore

/// One Socket.IO v5 packet, with binary attachments already in place (as ``SocketValue/binary(_:)``).
///
/// On the wire: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, carried in one Engine.IO
/// message, followed by one binary message per attachment.
public struct SocketPacket: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        case connect = 0
        case disconnect = 1
        case event = 2
        case ack = 3
        case connectError = 4
        case binaryEvent = 5
        case binaryAck = 6
    }

    public var kind: Kind
    public var namespace: String
    /// Acknowledgement id.
    public var id: Int64?
    public var data: SocketValue?

    public init(kind: Kind, namespace: String = "/", id: Int64? = nil, data: SocketValue? = nil) {
        self.kind = kind
        self.namespace = namespace
        self.id = id
        self.data = data
    }

    /// Event names a server may not emit, because clients treat them specially.
    public static let reservedEvents: Set<String> = [
        "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    ]

    /// The Engine.IO messages for this packet: the text, then each attachment. Events and acks
    /// containing binary become BINARY_EVENT / BINARY_ACK with placeholders.
    public func encode(allocator: ByteBufferAllocator = .init()) -> [EngineMessage] {
        var attachments: [ByteBuffer] = []
        let json =
            data?.jsonBytes { buffer in
                attachments.append(buffer)
                return ["_placeholder": true, "num": .int(Int64(attachments.count - 1))]
            } ?? []
        var kind = self.kind
        if !attachments.isEmpty {
            if kind == .event { kind = .binaryEvent }
            if kind == .ack { kind = .binaryAck }
        }
        var text = allocator.buffer(capacity: json.count + namespace.utf8.count + 24)
        text.writeInteger(UInt8(ascii: "0") + kind.rawValue)
        if kind == .binaryEvent || kind == .binaryAck {
            text.writeString("\(attachments.count)-")
        }
        if namespace != "/" {
            text.writeString(namespace)
            text.writeInteger(UInt8(ascii: ","))
        }
        if let id { text.writeString(String(id)) }
        text.writeBytes(json)
        return [.text(text)] + attachments.map { .binary($0) }
    }
}

/// Why a client's packet was refused; the connection is closed for any of these.
public struct SocketProtocolError: Error, Hashable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }

    static let unknownType = SocketProtocolError(reason: "unknown packet type")
    static let illegalAttachments = SocketProtocolError(reason: "illegal attachments")
    static let tooManyAttachments = SocketProtocolError(reason: "too many attachments")
    static let invalidPayload = SocketProtocolError(reason: "invalid payload")
    static let invalidAckID = SocketProtocolError(reason: "invalid ack id")
    static let unexpectedText = SocketProtocolError(reason: "got plaintext data when reconstructing a packet")
    static let unexpectedBinary = SocketProtocolError(reason: "got binary data when not reconstructing a packet")
    static let attachmentsTooLarge = SocketProtocolError(reason: "attachments larger than the maximum payload")
}
