import NIOCore

/// The HTTP long-polling body: packets in their text form joined by the record separator `\u{1E}`.
package enum EnginePayload {
    static let separator: UInt8 = 0x1E

    package static func encode(_ packets: some Collection<EnginePacket>, allocator: ByteBufferAllocator = .init())
        -> ByteBuffer
    {
        var buffer = allocator.buffer(capacity: packets.reduce(0) { $0 + $1.estimatedSize })
        for (index, packet) in packets.enumerated() {
            if index > 0 { buffer.writeInteger(separator) }
            packet.encodeText(into: &buffer)
        }
        return buffer
    }

    /// Decodes packets until the first invalid one: the packets before it and the error.
    package static func decode(_ body: ByteBuffer) -> (packets: [EnginePacket], error: EnginePacket.DecodingError?) {
        var packets: [EnginePacket] = []
        var remaining = body
        while true {
            let end = remaining.readableBytesView.firstIndex(of: separator)
            let length = end.map { $0 - remaining.readerIndex } ?? remaining.readableBytes
            let slice = remaining.readSlice(length: length)!
            do {
                packets.append(try EnginePacket.decode(text: slice, allowBase64Binary: true))
            } catch {
                return (packets, error)
            }
            guard end != nil else { return (packets, nil) }
            remaining.moveReaderIndex(forwardBy: 1)
        }
    }
}

extension EnginePacket {
    /// Roughly how many bytes the text form takes (for buffer sizing).
    var estimatedSize: Int {
        switch self {
        case .open(let json): 1 + json.utf8.count
        case .message(.text(let bytes)): 1 + bytes.readableBytes
        case .message(.binary(let bytes)): 1 + (bytes.readableBytes + 2) / 3 * 4
        case .ping(let data?), .pong(let data?): 1 + data.utf8.count
        default: 1
        }
    }
}
