import Foundation
import ParleyChat
import Testing

@Suite("JSON written and read by hand")
struct JSONTextTests {
    // MARK: Writer

    @Test func writesObjectsAndArraysWithSeparators() {
        var json = JSONWriter()
        json.beginObject()
        json.member("a", "x")
        json.member("b", orNull: nil)
        json.member("skipped", ifPresent: nil)
        json.key("list")
        json.beginArray()
        json.string("1")
        json.integer(-2)
        json.beginObject()
        json.endObject()
        json.beginArray()
        json.endArray()
        json.endArray()
        json.member("c", ifPresent: "y")
        json.endObject()
        #expect(json.text == #"{"a":"x","b":null,"list":["1",-2,{},[]],"c":"y"}"#)
    }

    @Test(
        arguments: [
            ("plain", #""plain""#),
            ("quote \" and backslash \\", #""quote \" and backslash \\""#),
            ("lines\n\r\ttab", #""lines\n\r\ttab""#),
            ("\u{08}\u{0C}\u{01}\u{1F}", #""\b\f\u0001\u001f""#),
            ("slash / stays", #""slash / stays""#),
            ("ünïcödé 🙂 中文", "\"ünïcödé 🙂 中文\""),
            ("", #""""#),
        ])
    func escapesStringsAsJSONRequires(value: String, expected: String) throws {
        var json = JSONWriter()
        json.string(value)
        #expect(json.text == expected)
        // And any JSON parser reads the value back.
        let parsed = try JSONSerialization.jsonObject(with: Data(json.bytes), options: .fragmentsAllowed)
        #expect(parsed as? String == value)
    }

    // MARK: Reader

    @Test func readsMembersInAnyOrderAndSkipsTheRest() throws {
        let text = #"""
             { "skip": {"deep": [1, -2.5e+3, true, false, null, {"x": "y"}, []]},
              "name" : "A\"B\\C\/D\n\u00e9\ud83d\ude42" , "none": null, "n": 0 }
            """#
        var reader = JSONReader(text)
        var name: String?
        var none: String? = "unset"
        try reader.readObject { reader, key in
            switch key {
            case "name": name = try reader.readString()
            case "none": none = try reader.readStringOrNull()
            default: try reader.skipValue()
            }
        }
        try reader.finish()
        #expect(name == "A\"B\\C/D\n\u{E9}\u{1F642}")
        #expect(none == nil)
    }

    @Test func tellsTheKindOfTheNextValue() throws {
        let cases: [(String, JSONReader.ValueKind)] = [
            ("{}", .object), ("[]", .array), ("\"s\"", .string), ("-1", .number), ("7", .number),
            ("true", .bool), ("false", .bool), ("null", .null),
        ]
        for (text, kind) in cases {
            var reader = JSONReader("  " + text)
            #expect(try reader.nextKind() == kind, "\(text)")
            try reader.skipValue()
            try reader.finish()
        }
    }

    @Test(arguments: [
        "", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\" 1}", "{\"a\":1}x", "{a:1}",
        "{\"a\":\"unterminated}", "{\"a\":\"bad \\x escape\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud83d\"}",
        "{\"a\":\"\\ude42\"}", "{\"a\":\"raw\nnewline\"}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":1e}",
        "{\"a\":tru}", "{\"a\":nul}", "{\"a\":[1,]}", "{\"a\":[1 2]}",
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        var reader = JSONReader(text)
        #expect(throws: JSONReader.Malformed.self) {
            try reader.readObject { reader, _ in try reader.skipValue() }
            try reader.finish()
        }
    }

    @Test func refusesInvalidUTF8() {
        var reader = JSONReader(bytes: Array("{\"a\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8))
        #expect(throws: JSONReader.Malformed.self) {
            try reader.readObject { reader, _ in _ = try reader.readString() }
        }
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        var reader = JSONReader("{\"a\":" + deep + "}")
        #expect(throws: JSONReader.Malformed.self) {
            try reader.readObject { reader, _ in try reader.skipValue() }
        }
        let fine = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        var shallow = JSONReader("{\"a\":" + fine + "}")
        try shallow.readObject { reader, _ in try reader.skipValue() }
        try shallow.finish()
    }

    @Test func readsWhatTheWriterWrites() throws {
        for _ in 0..<200 {
            let value = String((0..<Int.random(in: 0...40)).map { _ in randomCharacter() })
            var json = JSONWriter()
            json.beginObject()
            json.member("v", value)
            json.endObject()
            var reader = JSONReader(bytes: json.bytes)
            var read: String?
            try reader.readObject { reader, _ in read = try reader.readString() }
            try reader.finish()
            #expect(read == value)
        }
    }

    private func randomCharacter() -> Character {
        let pool: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "é", "🙂", "中"]
        return pool.randomElement()!
    }
}
