import HTTPTypes
import Testing

@testable import SocketIO

@Suite("Packed string pairs (handshake headers and query)")
struct PackedStringPairsTests {
    @Test func everyStringComesBackAsItWentIn() {
        let long = String(repeating: "é", count: 200)  // 400 UTF-8 bytes: a two-byte length
        let pairs = [("a", ""), ("", "b"), ("nul\u{0}inside", "x\u{0}"), ("k", long), ("emoji", "👋🏽")]
        let packed = PackedStringPairs(pairs)
        #expect(packed.pairs.map(\.0) == pairs.map(\.0))
        #expect(packed.pairs.map(\.1) == pairs.map(\.1))
        #expect(PackedStringPairs([(String, String)]()).pairs.isEmpty)
    }

    @Test func headersKeepTheirOrderRepeatsAndSpelling() {
        var fields = HTTPFields()
        fields.append(HTTPField(name: HTTPField.Name("X-Custom")!, value: "1"))
        fields.append(HTTPField(name: .cookie, value: "a=1"))
        fields.append(HTTPField(name: .cookie, value: "b=2"))
        let handshake = EngineHandshake(headers: fields, query: ["EIO": "4", "b64": "1"], remoteAddress: nil)
        #expect(handshake.headers == fields)
        #expect(handshake.headers.map(\.name.rawName) == ["X-Custom", "Cookie", "Cookie"])
        #expect(handshake.headers[values: .cookie] == ["a=1", "b=2"])
        #expect(handshake.query == ["EIO": "4", "b64": "1"])

        let socket = SocketHandshake(engine: handshake, auth: .null, time: .now)
        #expect(socket.headers == fields)
        #expect(socket.query == handshake.query)
        var changed = socket
        changed.headers[.cookie] = "c=3"
        #expect(changed.headers[values: .cookie] == ["c=3"])
        #expect(socket.headers[values: .cookie] == ["a=1", "b=2"])
    }
}
