import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import SocketIO

/// The frame reader on frames NIO's encoder wrote, cut anywhere. (The fuzz target
/// `websocket-frame` compares it with NIO's decoder on arbitrary bytes.)
@Suite("WebSocket frame reader")
struct WebSocketFrameReaderTests {
    static func randomFrame(using generator: inout some RandomNumberGenerator) -> WebSocketFrame {
        let opcodes: [WebSocketOpcode] = [.text, .binary, .continuation, .ping, .pong, .connectionClose]
        let opcode = opcodes.randomElement(using: &generator)!
        let control = opcode == .ping || opcode == .pong || opcode == .connectionClose
        let length =
            control
            ? Int.random(in: 0...125, using: &generator)
            : [0, 1, 125, 126, 127, 300, 65_536].randomElement(using: &generator)!
        let data = ByteBuffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let masked = Bool.random(using: &generator)
        return WebSocketFrame(
            fin: control || Bool.random(using: &generator),
            opcode: opcode,
            maskKey: masked ? WebSocketMaskingKey([1, 2, 3, UInt8.random(in: 0...255, using: &generator)]) : nil,
            data: data
        )
    }

    @Test func framesCutAnywhereComeOutAsTheyWentIn() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let frames = (0..<20).map { _ in Self.randomFrame(using: &generator) }
            let encoder = EmbeddedChannel(handler: WebSocketFrameEncoder())
            var bytes = ByteBuffer()
            for frame in frames {
                try encoder.writeOutbound(frame)
                while var part = try encoder.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
            }
            var reader = WebSocketFrameReader(maxFrameSize: 70_000)
            var read: [WebSocketFrame] = []
            while bytes.readableBytes > 0 {
                reader.append(
                    bytes.readSlice(length: min(Int.random(in: 1...400, using: &generator), bytes.readableBytes))!)
                while case .frame(let frame) = reader.next() { read.append(frame) }
            }
            #expect(read.count == frames.count)
            for (got, sent) in zip(read, frames) {
                #expect(got.fin == sent.fin)
                #expect(got.opcode == sent.opcode)
                #expect(got.maskKey == sent.maskKey)
                #expect(got.unmaskedData == sent.data)
            }
            guard case .needMoreBytes = reader.next() else {
                Issue.record("bytes left after the last frame")
                return
            }
        }
    }

    @Test(
        arguments: [
            ([0x81, 0x80 | 126, 0x04, 0x00], WebSocketErrorCode.messageTooLarge),  // 1,024 bytes, over 1,000
            ([0x81, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], .messageTooLarge),  // over Int.max
            ([0x09, 0x80], .protocolError),  // a ping that is not final
            ([0x89, 0x80 | 126, 0x00, 0x7E], .protocolError),  // a ping of 126 bytes
        ] as [([UInt8], WebSocketErrorCode)])
    func aBadHeaderFailsAtOnceAndNothingMoreIsRead(header: [UInt8], code: WebSocketErrorCode) {
        var reader = WebSocketFrameReader(maxFrameSize: 1_000)
        reader.append(ByteBuffer(bytes: header))
        guard case .failed(let failure) = reader.next() else {
            Issue.record("the header was accepted")
            return
        }
        #expect(failure == code)
        reader.append(ByteBuffer(bytes: [0x81, 0x00]))
        guard case .failed = reader.next() else {
            Issue.record("a frame was read after a failure")
            return
        }
    }
}
