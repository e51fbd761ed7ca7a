import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import SocketIO

/// The WebSocket transport in an `EmbeddedChannel`: frames in, Engine.IO packets to the session;
/// packets out, frames on the wire, as NIO's own decoder reads them back.
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
            // As after a real upgrade: pre-encoded frames skip NIO's encoder, other frames
            // (pongs, closes) go through it.
            let writer = WebSocketFrameWriter()
            try channel.pipeline.syncOperations.addHandler(writer)
            try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
            let handler = EngineWebSocket(
                channel: channel,
                frameOutput: try channel.pipeline.syncOperations.context(handler: writer),
                base64Binary: base64Binary
            )
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
            try channel.writeInbound(
                WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
            channel.embeddedEventLoop.run()
        }
    }

    static func text(_ frame: WebSocketFrame) -> String {
        String(buffer: frame.unmaskedData)
    }

    @Test func theOpenPacketGoesFirstThenTextAndBinaryFramesBothWays() throws {
        let harness = try Harness()
        #expect(try harness.writtenFrames().map(Self.text) == ["0{}"])

        try harness.receive(text: "4hello")
        try harness.channel.writeInbound(
            WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [1, 2, 3])))
        harness.channel.embeddedEventLoop.run()
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
        try harness.channel.writeInbound(
            WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: [0x34, 0xFF, 0xFE])))
        harness.channel.embeddedEventLoop.run()
        #expect(harness.recorder.closed == .parseError)
        #expect(harness.recorder.messages.isEmpty)
    }

    @Test func pingsAreAnsweredAndACloseIsEchoedThenTheConnectionEnds() throws {
        let harness = try Harness()
        _ = try harness.writtenFrames()
        try harness.channel.writeInbound(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "p")))
        let pong = try harness.writtenFrames()
        #expect(pong.map(\.opcode) == [.pong])
        #expect(pong.map(Self.text) == ["p"])

        var code = ByteBuffer()
        code.writeInteger(UInt16(1000))
        try harness.channel.writeInbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))
        harness.channel.embeddedEventLoop.run()
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
}
