import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import SocketIO

/// The WebSocket transport in an `EmbeddedChannel`: client frames in (masked, as NIO's encoder
/// writes them), Engine.IO packets to the session; packets out, frames on the wire, as NIO's own
/// decoder reads them back.
@Suite("Engine.IO WebSocket transport")
struct EngineWebSocketTests {
    /// Collects what the session hands the application.
    final class Recorder: EngineSessionDelegate, @unchecked Sendable {
        private let lock = NIOLock()
        private var _messages: [EngineMessage] = []
        private var _closed: EngineCloseReason?
        var messages: [EngineMessage] { lock.withLock { _messages } }
        var closed: EngineCloseReason? { lock.withLock { _closed } }

        func engineSession(_ session: EngineSession, didReceive message: EngineMessage) {
            lock.withLock { _messages.append(message) }
        }

        func engineSession(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {
            lock.withLock { _closed = reason }
        }
    }

    struct Harness {
        let channel: EmbeddedChannel
        let session: EngineSession
        let recorder = Recorder()

        init(base64Binary: Bool = false) throws {
            channel = EmbeddedChannel()
            // As after a real upgrade: bytes in, bytes out.
            let handler = EngineWebSocket(channel: channel, maxMessageBytes: 100, base64Binary: base64Binary)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            var configuration = EngineConfiguration()
            configuration.pingInterval = .seconds(25)
            session = EngineSession(
                id: SessionID.make(),
                handshake: EngineHandshake(headers: [:], query: [:], remoteAddress: nil),
                transport: .websocket,
                configuration: configuration,
                eventLoop: channel.embeddedEventLoop,
                onClosed: { _ in }
            )
            session.setDelegate(recorder)
            handler.attach(to: session)
            session.start(openPacket: .open("{}"), webSocket: handler)
            channel.embeddedEventLoop.run()
        }

        /// The frames written since the last call, decoded by NIO's WebSocket decoder.
        func writtenFrames() throws -> [WebSocketFrame] {
            let decoder = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
            while let bytes = try channel.readOutbound(as: ByteBuffer.self) {
                try decoder.writeInbound(bytes)
            }
            var frames: [WebSocketFrame] = []
            while let frame = try decoder.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
            return frames
        }

        func receive(text: String) throws {
            try receive(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
        }

        func receive(_ frame: WebSocketFrame) throws {
            try channel.writeInbound(EngineWebSocketTests.clientBytes(frame))
            channel.embeddedEventLoop.run()
        }

        /// The close code of the one frame written since the last call, which must be a close.
        func closeCode() throws -> WebSocketErrorCode? {
            let frames = try writtenFrames()
            guard frames.count == 1, frames[0].opcode == .connectionClose else { return nil }
            var data = frames[0].unmaskedData
            return data.readWebSocketErrorCode()
        }
    }

    /// A frame as a client sends it: masked, encoded by NIO.
    static func clientBytes(_ frame: WebSocketFrame) throws -> ByteBuffer {
        var frame = frame
        frame.maskKey = WebSocketMaskingKey([7, 1, 250, 3])  // the encoder masks the data with it
        let encoder = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try encoder.writeOutbound(frame)
        var bytes = ByteBuffer()
        while var part = try encoder.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        return bytes
    }

    static func text(_ frame: WebSocketFrame) -> String {
        String(buffer: frame.unmaskedData)
    }

    @Test func theOpenPacketGoesFirstThenTextAndBinaryFramesBothWays() throws {
        let harness = try Harness()
        #expect(try harness.writtenFrames().map(Self.text) == ["0{}"])

        try harness.receive(text: "4hello")
        try harness.receive(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [1, 2, 3])))
        #expect(
            harness.recorder.messages == [.text(ByteBuffer(string: "hello")), .binary(ByteBuffer(bytes: [1, 2, 3]))])

        harness.session.send([.text(ByteBuffer(string: "hi")), .binary(ByteBuffer(bytes: [9]))])
        harness.channel.embeddedEventLoop.run()
        let frames = try harness.writtenFrames()
        #expect(frames.map(\.opcode) == [.text, .binary])
        #expect(Self.text(frames[0]) == "4hi")
        #expect(Array(frames[1].unmaskedData.readableBytesView) == [9])
    }

    @Test(arguments: [0, 125, 126, 65_535, 65_536])
    func framesOfEverySizeHaveTheHeaderNIODecodes(size: Int) throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        let payload = String(repeating: "x", count: size)
        harness.session.send([.text(ByteBuffer(string: payload))])
        harness.channel.embeddedEventLoop.run()
        let frames = try harness.writtenFrames()
        #expect(frames.count == 1)
        #expect(Self.text(frames[0]) == "4" + payload)
    }

    @Test func binaryGoesAsBase64TextForClientsThatAskForIt() throws {
        let harness = try Harness(base64Binary: true)
        _ = try harness.writtenFrames()
        harness.session.send([.binary(ByteBuffer(bytes: [1, 2, 3]))])
        harness.channel.embeddedEventLoop.run()
        let frames = try harness.writtenFrames()
        #expect(frames.map(\.opcode) == [.text])
        #expect(Self.text(frames[0]) == "bAQID")
    }

    @Test func aTextFrameThatIsNotUTF8OrNotAPacketClosesTheSession() throws {
        let harness = try Harness()
        try harness.receive(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: [0x34, 0xFF, 0xFE])))
        #expect(harness.recorder.closed == .parseError)
        #expect(harness.recorder.messages.isEmpty)
    }

    @Test func pingsAreAnsweredAndACloseIsEchoedThenTheConnectionEnds() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        try harness.receive(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "p")))
        let pong = try harness.writtenFrames()
        #expect(pong.map(\.opcode) == [.pong])
        #expect(pong.map(Self.text) == ["p"])

        var code = ByteBuffer()
        code.writeInteger(UInt16(1000))
        try harness.receive(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))
        #expect(try harness.writtenFrames().map(\.opcode) == [.connectionClose])
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.closed == .transportClose)
    }

    @Test func theServerClosingSendsACloseFrame() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        harness.session.close(reason: .forcedClose)
        harness.channel.embeddedEventLoop.run()
        // As the reference server does: the WebSocket is closed (the client reconnects).
        #expect(try harness.writtenFrames().map(\.opcode) == [.connectionClose])
        #expect(harness.recorder.closed == .forcedClose)
    }

    @Test func aMessageInFragmentsArrivesWhole() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        try harness.receive(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(string: "4he")))
        // A ping may come between fragments; it is answered at once.
        try harness.receive(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "p")))
        #expect(try harness.writtenFrames().map(\.opcode) == [.pong])
        try harness.receive(WebSocketFrame(fin: false, opcode: .continuation, data: ByteBuffer(string: "ll")))
        #expect(harness.recorder.messages.isEmpty)
        try harness.receive(WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(string: "o")))
        try harness.receive(WebSocketFrame(fin: false, opcode: .binary, data: ByteBuffer(bytes: [1])))
        try harness.receive(WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(bytes: [2])))
        #expect(harness.recorder.messages == [.text(ByteBuffer(string: "hello")), .binary(ByteBuffer(bytes: [1, 2]))])
        #expect(harness.channel.isActive)
    }

    @Test func aContinuationWithoutAStartClosesWithAProtocolError() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        try harness.receive(WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(string: "x")))
        #expect(try harness.closeCode() == .protocolError)
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.messages.isEmpty)
        #expect(harness.recorder.closed == .transportClose)
    }

    @Test func aNewMessageBeforeTheLastOneEndedClosesWithAProtocolError() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        try harness.receive(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(string: "4a")))
        try harness.receive(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "4b")))
        #expect(try harness.closeCode() == .protocolError)
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.messages.isEmpty)
    }

    @Test func fragmentsAddingUpToMoreThanTheLimitCloseTheConnection() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        let sixty = ByteBuffer(repeating: UInt8(ascii: "x"), count: 60)
        try harness.receive(WebSocketFrame(fin: false, opcode: .text, data: sixty))
        try harness.receive(WebSocketFrame(fin: false, opcode: .continuation, data: sixty))
        #expect(try harness.closeCode() == .messageTooLarge)
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.messages.isEmpty)
    }

    @Test func tooManyFragmentsCloseTheConnection() throws {
        var assembler = WebSocketMessageAssembler(maxMessageBytes: 100, maxFragments: 3)
        let allocator = ByteBufferAllocator()
        let empty = ByteBuffer()
        #expect(
            assembler.receive(WebSocketFrame(fin: false, opcode: .text, data: empty), allocator: allocator)
                == .incomplete)
        for _ in 0..<2 {
            #expect(
                assembler.receive(WebSocketFrame(fin: false, opcode: .continuation, data: empty), allocator: allocator)
                    == .incomplete)
        }
        #expect(
            assembler.receive(WebSocketFrame(fin: true, opcode: .continuation, data: empty), allocator: allocator)
                == .failed(.policyViolation))
        // After a failure it starts afresh.
        #expect(
            assembler.receive(
                WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "4")), allocator: allocator)
                == .message(opcode: .text, data: ByteBuffer(string: "4")))
    }

    @Test func aFrameOverTheLimitClosesWithMessageTooLarge() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        // A masked text frame that says it is 200 bytes long, over the limit of 100: refused at
        // its header, before its payload arrives.
        var bytes = ByteBuffer(bytes: [0x81, 0x80 | 126])
        bytes.writeInteger(UInt16(200))
        try harness.channel.writeInbound(bytes)
        harness.channel.embeddedEventLoop.run()
        #expect(try harness.closeCode() == .messageTooLarge)
        #expect(!harness.channel.isActive)
    }

    @Test(
        arguments: [
            [0x81, 0x02, 0x34, 0x78],  // "4x", not masked
            [0xC1, 0x80, 0, 0, 0, 0],  // RSV1 set, no extension negotiated
            [0x83, 0x80, 0, 0, 0, 0],  // reserved opcode 3
            [0x8B, 0x80, 0, 0, 0, 0],  // reserved opcode 0xB
        ] as [[UInt8]])
    func aFrameAClientMayNotSendClosesWithAProtocolError(bytes: [UInt8]) throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        try harness.channel.writeInbound(ByteBuffer(bytes: bytes))
        harness.channel.embeddedEventLoop.run()
        #expect(try harness.closeCode() == .protocolError)
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.messages.isEmpty)
    }

    @Test func framesSplitAnywhereAndSeveralInOneReadAllArrive() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        var bytes = ByteBuffer()
        for text in ["4one", "4two", "4" + String(repeating: "3", count: 90)] {
            var frame = try Self.clientBytes(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
            bytes.writeBuffer(&frame)
        }
        while bytes.readableBytes > 0 {
            let piece = bytes.readSlice(length: min(3, bytes.readableBytes))!
            try harness.channel.writeInbound(piece)
        }
        harness.channel.embeddedEventLoop.run()
        #expect(
            harness.recorder.messages == [
                .text(ByteBuffer(string: "one")), .text(ByteBuffer(string: "two")),
                .text(ByteBuffer(string: String(repeating: "3", count: 90))),
            ])
    }

    @Test func nothingAfterACloseFrameIsRead() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        var bytes = try Self.clientBytes(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer()))
        var after = try Self.clientBytes(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "4late")))
        bytes.writeBuffer(&after)
        try harness.channel.writeInbound(bytes)
        harness.channel.embeddedEventLoop.run()
        #expect(harness.recorder.messages.isEmpty)
        #expect(!harness.channel.isActive)
    }

    @Test func aClientThatShutsItsSideWithoutACloseFrameIsDisconnectedAtOnce() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        harness.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        harness.channel.embeddedEventLoop.run()
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.closed == .transportClose)
    }

    /// Takes writes and never completes them: a peer that stopped reading.
    final class StalledWrites: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = ByteBuffer
        var pending: [EventLoopPromise<Void>] = []
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if let promise { pending.append(promise) }
        }
        func flush(context: ChannelHandlerContext) {}
    }

    @Test func aClosingConnectionWhosePeerStoppedReadingEndsAfterTheGracePeriodAndReadsNothingMore() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        try harness.channel.pipeline.syncOperations.addHandler(StalledWrites(), position: .first)
        try harness.receive(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer()))
        #expect(harness.channel.isActive)
        // What the client sends meanwhile is neither read nor kept.
        try harness.receive(text: "4after")
        try harness.receive(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(repeating: 0x34, count: 50)))
        #expect(harness.recorder.messages.isEmpty)
        harness.channel.embeddedEventLoop.advanceTime(by: EngineWebSocket.closeGracePeriod)
        #expect(!harness.channel.isActive)
        #expect(harness.recorder.closed == .transportClose)
    }

    @Test func aCloseFrameWithAOneBytePayloadIsAProtocolError() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        try harness.receive(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [3])))
        #expect(try harness.closeCode() == .protocolError)
        #expect(!harness.channel.isActive)
    }
}
