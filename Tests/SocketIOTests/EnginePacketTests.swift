import HTTPTypes
import NIOCore
import Testing

@testable import SocketIO

@Suite("Engine.IO packets")
struct EnginePacketTests {
    func decode(_ text: String, base64: Bool = false) throws -> EnginePacket {
        try EnginePacket.decode(text: ByteBuffer(string: text), allowBase64Binary: base64)
    }

    @Test func decodesEveryType() throws {
        #expect(try decode("0{}") == .open("{}"))
        #expect(try decode("1") == .close)
        #expect(try decode("2") == .ping(nil))
        #expect(try decode("2probe") == .ping("probe"))
        #expect(try decode("3probe") == .pong("probe"))
        #expect(try decode("4hello") == .message(.text(ByteBuffer(string: "hello"))))
        #expect(try decode("4") == .message(.text(ByteBuffer())))
        #expect(try decode("5") == .upgrade)
        #expect(try decode("6") == .noop)
        #expect(try decode("bAQIDBA==", base64: true) == .message(.binary(ByteBuffer(bytes: [1, 2, 3, 4]))))
    }

    @Test(arguments: ["", "7", "a", "abc", "b", "-1", " 4"])
    func rejectsUnknownTypes(_ text: String) {
        #expect(throws: EnginePacket.DecodingError.self) { try decode(text) }
    }

    @Test func base64OnlyInPayloads() {
        #expect(throws: EnginePacket.DecodingError.self) { try decode("bAQID") }
        #expect(throws: EnginePacket.DecodingError.self) { try decode("b!!!", base64: true) }
    }

    @Test func encodesPayloadsWithTheRecordSeparator() {
        let payload = EnginePayload.encode([
            .message(.text(ByteBuffer(string: "hello"))), .message(.binary(ByteBuffer(bytes: [1, 2, 3, 4]))),
            .ping(nil),
        ])
        #expect(String(buffer: payload) == "4hello\u{1e}bAQIDBA==\u{1e}2")
    }

    @Test func decodesPayloadsUpToTheFirstInvalidPacket() {
        let (packets, error) = EnginePayload.decode(ByteBuffer(string: "4a\u{1e}3\u{1e}x\u{1e}4b"))
        #expect(packets == [.message(.text(ByteBuffer(string: "a"))), .pong(nil)])
        #expect(error != nil)
        let (all, none) = EnginePayload.decode(ByteBuffer(string: "4test1\u{1e}4test2\u{1e}4test3"))
        #expect(all.count == 3)
        #expect(none == nil)
        // An empty body is one empty packet: invalid.
        #expect(EnginePayload.decode(ByteBuffer()).error != nil)
    }

    @Test func errorBodiesMatchTheReferenceServer() {
        #expect(
            EngineError.unsupportedProtocolVersion.body() == #"{"code":5,"message":"Unsupported protocol version"}"#)
        #expect(
            EngineError.forbidden.body(message: "Origin not allowed") == #"{"code":4,"message":"Origin not allowed"}"#)
        #expect(EngineError.forbidden.status == .forbidden)
        #expect(EngineError.unknownSessionID.status == .badRequest)
    }

    @Test func sessionIDsAreUnguessableAndURLSafe() {
        let ids = (0..<1000).map { _ in SessionID.make() }
        #expect(Set(ids).count == 1000)
        #expect(
            ids.allSatisfy { $0.count == 20 && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } })
    }
}
