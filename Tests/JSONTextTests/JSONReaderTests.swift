import JSONText
import Testing

@Suite("JSONReader")
struct JSONReaderTests {
    /// A whole value read into a generic tree, for the tests.
    indirect enum Value: Hashable {
        case object([String: Value]), array([Value]), string(String), number(JSONNumber), bool(Bool), null

        init(_ reader: inout JSONReader) throws(JSONReader.Malformed) {
            switch try reader.nextKind() {
            case .object:
                var members: [String: Value] = [:]
                try reader.readObject { reader, key throws(JSONReader.Malformed) in members[key] = try Value(&reader) }
                self = .object(members)
            case .array:
                var elements: [Value] = []
                try reader.readArray { reader throws(JSONReader.Malformed) in elements.append(try Value(&reader)) }
                self = .array(elements)
            case .string: self = .string(try reader.readString())
            case .number: self = .number(try reader.readNumber())
            case .bool: self = .bool(try reader.readBool())
            case .null:
                try reader.readNull()
                self = .null
            }
        }

        static func parse(_ text: String) throws(JSONReader.Malformed) -> Value {
            try JSONReader.read(text) { reader throws(JSONReader.Malformed) in
                let value = try Value(&reader)
                try reader.finish()
                return value
            }
        }

        static func parse(_ bytes: [UInt8]) throws(JSONReader.Malformed) -> Value {
            try JSONReader.read(bytes) { reader throws(JSONReader.Malformed) in
                let value = try Value(&reader)
                try reader.finish()
                return value
            }
        }
    }

    @Test func readsMembersInAnyOrderAndSkipsTheRest() throws {
        let text = #"""
             { "skip": {"deep": [1, -2.5e+3, true, false, null, {"x": "y"}, []]},
              "name" : "A\"B\\C\/D\n\u00e9\ud83d\ude42" , "none": null, "n": 0 }
            """#
        var name: String?
        var none: String? = "unset"
        try JSONReader.read(text) { reader throws(JSONReader.Malformed) in
            try reader.readObject { reader, key throws(JSONReader.Malformed) in
                switch key {
                case "name": name = try reader.readString()
                case "none": none = try reader.readStringOrNull()
                default: try reader.skipValue()
                }
            }
            try reader.finish()
        }
        #expect(name == "A\"B\\C/D\n\u{E9}\u{1F642}")
        #expect(none == nil)
    }

    @Test func tellsTheKindOfTheNextValue() throws {
        let cases: [(String, JSONReader.ValueKind)] = [
            ("{}", .object), ("[]", .array), ("\"s\"", .string), ("-1", .number), ("7", .number),
            ("true", .bool), ("false", .bool), ("null", .null),
        ]
        for (text, kind) in cases {
            let read = try JSONReader.read("  " + text) { reader throws(JSONReader.Malformed) in
                let kind = try reader.nextKind()
                try reader.skipValue()
                try reader.finish()
                return kind
            }
            #expect(read == kind, "\(text)")
        }
    }

    @Test func keepsIntegersApartFromOtherNumbers() throws {
        #expect(try Value.parse("1") == .number(.integer(1)))
        #expect(try Value.parse("-0") == .number(.integer(0)))
        #expect(try Value.parse("1.0") == .number(.double(1)))
        #expect(try Value.parse("99999999999999999999") == .number(.double(1e20)))
        #expect(try Value.parse("-2.5e+3") == .number(.double(-2500)))
        #expect(JSONNumber.double(3).integerValue == 3)
        #expect(JSONNumber.double(3.5).integerValue == nil)
        #expect(JSONNumber.double(1e300).integerValue == nil)
    }

    @Test(arguments: [
        "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\" 1}", "{\"a\":1}x", "{a:1}", "[1,]",
        "[1 2]", "{\"a\":\"unterminated}", "\"bad \\x escape\"", "\"\\u12\"", "\"raw\nnewline\"", "01", "1.", ".5",
        "-", "1e", "tru", "nul", "+1", "NaN", "\"\u{01}\"", "[1]x", "1e999", "-1e999", "'a'", "[1,,2]",
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONReader.Malformed.self) { try Value.parse(text) }
    }

    /// Like Go's encoding/json: broken strings become U+FFFD rather than failing the whole text.
    @Test func unpairedSurrogatesAndInvalidUTF8BecomeReplacementCharacters() throws {
        #expect(try Value.parse(#""\ud800x""#) == .string("\u{FFFD}x"))
        #expect(try Value.parse(#""\ude42""#) == .string("\u{FFFD}"))
        #expect(try Value.parse(#""\ud83d\u0041""#) == .string("\u{FFFD}A"))
        #expect(try Value.parse(Array("\"a".utf8) + [0xFF, 0xFE] + Array("b\"".utf8)) == .string("a\u{FFFD}\u{FFFD}b"))
        #expect(try Value.parse(Array("\"\\n".utf8) + [0xC3] + Array("\"".utf8)) == .string("\n\u{FFFD}"))
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONReader.Malformed.self) { try Value.parse(deep) }
        let limit = JSONReader.maximumDepth
        _ = try Value.parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit))
        #expect(throws: JSONReader.Malformed.self) {
            try Value.parse(String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1))
        }
    }

    @Test func readsWhatTheWriterWrites() throws {
        for _ in 0..<200 {
            let value = String((0..<Int.random(in: 0...40)).map { _ in randomCharacter() })
            let number = Double.random(in: -1e12...1e12)
            var json = JSONWriter()
            json.beginObject()
            json.member("v", value)
            json.key("n")
            json.double(number)
            json.endObject()
            guard case .object(let members) = try Value.parse(json.bytes), case .number(let read)? = members["n"] else {
                Issue.record("not an object with a number")
                continue
            }
            #expect(members["v"] == .string(value))
            #expect(read.doubleValue == number)
        }
    }

    private func randomCharacter() -> Character {
        let pool: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "é", "🙂", "中"]
        return pool.randomElement()!
    }
}
