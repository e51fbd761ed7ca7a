import NIOCore
import NIOWebSocket

/// Puts fragmented WebSocket messages back together (RFC 6455 §5.4), with limits.
///
/// The rules of NIO's `NIOWebSocketFrameAggregator`, kept inside ``EngineWebSocket`` instead of
/// as a channel handler of its own: each handler in a connection's pipeline costs its object and
/// a context for as long as the connection lives, and an idle connection is mostly such fixed
/// costs (see docs/benchmarks.md). Control frames are not messages; they are never fragmented
/// (NIO's decoder refuses them) and may arrive between a message's fragments.
struct WebSocketMessageAssembler {
    enum Outcome: Equatable {
        /// A whole text or binary message, unmasked.
        case message(opcode: WebSocketOpcode, data: ByteBuffer)
        /// A fragment was kept; the message continues.
        case incomplete
        /// A control frame, for the caller to handle.
        case control(WebSocketFrame)
        /// The frames broke the protocol or the limits: the connection should close with this code.
        case failed(WebSocketErrorCode)
    }

    /// The largest message, in bytes of payload.
    let maxMessageBytes: Int
    /// The most fragments one message may come in.
    let maxFragments: Int

    private var opcode: WebSocketOpcode?
    /// The fragments so far, copied: a fragment is often a slice of a much larger read, which
    /// it would otherwise keep alive until the message ends.
    private var collected = ByteBuffer()
    private var fragmentCount = 0

    init(maxMessageBytes: Int, maxFragments: Int = 1024) {
        self.maxMessageBytes = maxMessageBytes
        self.maxFragments = maxFragments
    }

    mutating func receive(_ frame: WebSocketFrame, allocator: ByteBufferAllocator) -> Outcome {
        switch frame.opcode {
        case .text, .binary:
            guard opcode == nil else { return fail(.protocolError) }
            if frame.fin { return .message(opcode: frame.opcode, data: frame.unmaskedData) }
            opcode = frame.opcode
            collected = allocator.buffer(capacity: frame.length)
            return keep(frame)
        case .continuation:
            guard let opcode else { return fail(.protocolError) }
            if case .failed(let code) = keep(frame) { return .failed(code) }
            guard frame.fin else { return .incomplete }
            let data = collected
            reset()
            return .message(opcode: opcode, data: data)
        default:
            return .control(frame)
        }
    }

    private mutating func keep(_ frame: WebSocketFrame) -> Outcome {
        guard fragmentCount < maxFragments else { return fail(.policyViolation) }
        guard collected.readableBytes + frame.length <= maxMessageBytes else { return fail(.messageTooLarge) }
        fragmentCount += 1
        var data = frame.unmaskedData
        collected.writeBuffer(&data)
        return .incomplete
    }

    private mutating func fail(_ code: WebSocketErrorCode) -> Outcome {
        reset()
        return .failed(code)
    }

    private mutating func reset() {
        opcode = nil
        collected = ByteBuffer()
        fragmentCount = 0
    }
}
