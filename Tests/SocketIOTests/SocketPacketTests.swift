import NIOCore
import Testing

@testable import SocketIO

@Suite("Socket.IO packets")
struct SocketPacketTests {
    func text(_ messages: [EngineMessage]) -> String {
        guard case .text(let buffer) = messages.first else { return "" }
        return String(buffer: buffer)
    }

    @Test func encodesAsTheReferenceEncoder() {
        #expect(text(SocketPacket(kind: .connect, data: ["sid": "abc"]).encode()) == #"0{"sid":"abc"}"#)
        #expect(
            text(SocketPacket(kind: .connect, namespace: "/admin", data: ["sid": "x"]).encode())
                == #"0/admin,{"sid":"x"}"#)
        #expect(text(SocketPacket(kind: .disconnect, namespace: "/admin").encode()) == "1/admin,")
        #expect(text(SocketPacket(kind: .event, data: ["foo"]).encode()) == #"2["foo"]"#)
        #expect(
            text(SocketPacket(kind: .event, namespace: "/admin", id: 12, data: ["bar"]).encode())
                == #"2/admin,12["bar"]"#)
        #expect(
            text(SocketPacket(kind: .ack, id: 456, data: [1, "2", ["3": [false]]]).encode())
                == #"3456[1,"2",{"3":[false]}]"#)
        #expect(
            text(
                SocketPacket(kind: .connectError, namespace: "/random", data: ["message": "Invalid namespace"]).encode()
            )
                == #"4/random,{"message":"Invalid namespace"}"#)
    }

    @Test func encodedJSONIsWrittenAsItIs() throws {
        let message = try EncodedJSON(validating: #"{"_id":"a","text":"caf\u00e9 / \"x\""}"#)
        let packet = SocketPacket(kind: .event, data: ["new-message", .encoded(message), ["n": 1]])
        #expect(text(packet.encode()) == #"2["new-message",{"_id":"a","text":"caf\u00e9 / \"x\""},{"n":1}]"#)
        #expect(SocketValue.encoded(message).json == message.text)
        #expect(throws: (any Error).self) { try EncodedJSON(validating: #"{"a":1} {"b":2}"#) }
        #expect(throws: (any Error).self) { try EncodedJSON(validating: #"{"a":}"#) }
    }

    @Test func binaryBecomesAttachmentsWithPlaceholders() {
        let packet = SocketPacket(
            kind: .event,
            data: ["message-back", .binary(ByteBuffer(bytes: [1, 2, 3])), ["nested": .binary(ByteBuffer(bytes: [4]))]]
        )
        let messages = packet.encode()
        #expect(messages.count == 3)
        #expect(
            text(messages)
                == #"52-["message-back",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]"#)
        #expect(messages[1] == .binary(ByteBuffer(bytes: [1, 2, 3])))
        #expect(messages[2] == .binary(ByteBuffer(bytes: [4])))
        let ack = SocketPacket(kind: .ack, id: 789, data: [.binary(ByteBuffer(bytes: [9]))]).encode()
        #expect(text(ack) == #"61-789[{"_placeholder":true,"num":0}]"#)
    }
}

@Suite("Socket.IO decoder")
struct SocketPacketDecoderTests {
    func decode(_ texts: String..., binaries: [[UInt8]] = []) throws -> SocketPacket? {
        var decoder = SocketPacketDecoder()
        var result: SocketPacket?
        for text in texts { result = try decoder.decode(.text(ByteBuffer(string: text)))?.packet }
        for binary in binaries { result = try decoder.decode(.binary(ByteBuffer(bytes: binary)))?.packet }
        return result
    }

    @Test func decodesEveryValidForm() throws {
        #expect(try decode("0") == SocketPacket(kind: .connect))
        #expect(try decode(#"0{"token":"123"}"#) == SocketPacket(kind: .connect, data: ["token": "123"]))
        #expect(try decode("0/custom,") == SocketPacket(kind: .connect, namespace: "/custom"))
        #expect(try decode("0/random") == SocketPacket(kind: .connect, namespace: "/random"))
        #expect(
            try decode(#"0/custom,{"token":"abc"}"#)
                == SocketPacket(kind: .connect, namespace: "/custom", data: ["token": "abc"]))
        #expect(try decode("1") == SocketPacket(kind: .disconnect))
        #expect(try decode("1/custom,") == SocketPacket(kind: .disconnect, namespace: "/custom"))
        #expect(
            try decode(#"2["message",1,"2",{"3":[true]}]"#)
                == SocketPacket(kind: .event, data: ["message", 1, "2", ["3": [true]]]))
        #expect(
            try decode(#"2456["message-with-ack",1]"#)
                == SocketPacket(kind: .event, id: 456, data: ["message-with-ack", 1]))
        #expect(
            try decode(#"2/admin,12["bar"]"#) == SocketPacket(kind: .event, namespace: "/admin", id: 12, data: ["bar"]))
        #expect(try decode(#"2[1,2]"#) == SocketPacket(kind: .event, data: [1, 2]))
        #expect(try decode(#"3456[]"#) == SocketPacket(kind: .ack, id: 456, data: []))
    }

    @Test func reassemblesBinaryAttachments() throws {
        var decoder = SocketPacketDecoder()
        #expect(
            try decoder.decode(
                .text(
                    ByteBuffer(
                        string:
                            #"52-789["message-with-ack",{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1}}]"#
                    ))) == nil)
        #expect(decoder.isReconstructing)
        #expect(try decoder.decode(.binary(ByteBuffer(bytes: [1, 2, 3]))) == nil)
        let decoded = try decoder.decode(.binary(ByteBuffer(bytes: [4, 5, 6])))
        #expect(decoded?.byteCount == 92 + 6, "the text and both attachments")
        #expect(
            decoded?.packet
                == SocketPacket(
                    kind: .event, id: 789,
                    data: [
                        "message-with-ack", .binary(ByteBuffer(bytes: [1, 2, 3])),
                        ["a": .binary(ByteBuffer(bytes: [4, 5, 6]))],
                    ]
                ))
        #expect(!decoder.isReconstructing)
        // A zero-attachment binary event is complete at once.
        #expect(try decode(#"50-["x"]"#) == SocketPacket(kind: .event, data: ["x"]))
    }

    @Test(arguments: [
        "abc", "7", "9[]", "", "-1",  // bad type
        #"2{}"#, "2[]", #"2[{}]"#, #"2["disconnect"]"#, #"2["connect"]"#, #"2"x""#,  // bad event payloads
        #"2abc["message-with-ack",1]"#, #"299999999999999999999999["x"]"#,  // bad ack ids
        #"2["x""#, #"2["x"]]"#,  // bad JSON
        "0[]", #"0"x""#, "1{}", #"3{}"#, "4[]",  // payload shape per type
        #"5a-["x"]"#, #"51["x"]"#, #"511-["x"]"#, #"5-["x"]"#, "51-", #"51234567-["x"]"#,  // bad attachment headers
    ])
    func rejectsMalformedPackets(_ text: String) {
        #expect(throws: SocketProtocolError.self) { try decode(text) }
    }

    @Test func boundsAttachmentBytes() throws {
        var decoder = SocketPacketDecoder(maxAttachments: 10, maxAttachmentBytes: 100)
        _ = try decoder.decode(
            .text(ByteBuffer(string: #"52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)))
        _ = try decoder.decode(.binary(ByteBuffer(bytes: Array(repeating: 1, count: 60_000))))
        #expect(throws: SocketProtocolError.self) {
            try decoder.decode(.binary(ByteBuffer(bytes: Array(repeating: 1, count: 60_000))))
        }
    }

    @Test func rejectsAttachmentMismatches() {
        // Binary with no header waiting for it.
        #expect(throws: SocketProtocolError.self) { try decode(binaries: [[1]]) }
        // Text while attachments are outstanding.
        #expect(throws: SocketProtocolError.self) { try decode(#"51-["x",{"_placeholder":true,"num":0}]"#, #"2["y"]"#) }
        // A placeholder pointing past the attachments.
        #expect(throws: SocketProtocolError.self) {
            try decode(#"51-["x",{"_placeholder":true,"num":1}]"#, binaries: [[1]])
        }
        #expect(throws: SocketProtocolError.self) {
            try decode(#"51-["x",{"_placeholder":true,"num":"0"}]"#, binaries: [[1]])
        }
    }
}
