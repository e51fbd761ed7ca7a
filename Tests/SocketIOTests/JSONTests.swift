import OrderedCollections
import Testing

@testable import SocketIO

/// SocketValue's JSON form: read and written through the JSONText module.
@Suite("SocketValue JSON")
struct JSONTests {
    @Test(arguments: [
        #"["message",1,"2",{"3":[true]}]"#,
        #"{"b":1,"a":2,"c":{"z":null,"y":[1,2.5,-3]}}"#,
        #""é\u0000\n\"\\ 👋""#,
        #"[1.5,-0.25,1e-7,1e+21,123456789012345678]"#,
        #"[]"#, #"{}"#, #"null"#, #"true"#, #"0"#,
    ])
    func roundTripsLikeJSONStringify(_ json: String) throws {
        let value = try SocketValue.parse(json)
        #expect(value.description == json)
    }

    @Test func keepsIntegersAndDoublesApart() throws {
        #expect(try SocketValue.parse("1") == .int(1))
        #expect(try SocketValue.parse("1.0") == .double(1))
        #expect(try SocketValue.parse("1.0").description == "1")
        #expect(try SocketValue.parse("99999999999999999999") == .double(1e20))
        #expect(try SocketValue.parse("-0").description == "0")
    }

    @Test func decodesEscapes() throws {
        #expect(try SocketValue.parse(#""\u00e9\ud83d\udc4b\/\t""#) == .string("é👋/\t"))
        // A lone surrogate becomes U+FFFD rather than failing.
        #expect(try SocketValue.parse(#""\ud800x""#) == .string("\u{FFFD}x"))
    }

    @Test func repeatedKeysKeepTheirFirstPlaceAndLastValue() throws {
        #expect(try SocketValue.parse(#"{"a":1,"b":2,"a":3}"#).description == #"{"a":3,"b":2}"#)
    }

    @Test func writesSpecialNumbersAsJavaScriptDoes() {
        #expect(SocketValue.double(.nan).description == "null")
        #expect(SocketValue.double(.infinity).description == "null")
        #expect(SocketValue.double(100).description == "100")
        #expect(SocketValue.double(0.1).description == "0.1")
        #expect(SocketValue.double(1.5e-10).description == "1.5e-10")
    }

    @Test func encodedJSONIsWrittenAsItIs() throws {
        let value: SocketValue = ["a": .encoded(EncodedJSON(unchecked: #"{"x": [1, 2]}"#))]
        #expect(value.description == #"{"a":{"x": [1, 2]}}"#)
        #expect(throws: (any Error).self) { try EncodedJSON(validating: "{") }
    }

    @Test func decodesIntoCodableTypes() throws {
        struct Message: Codable, Equatable {
            var to: String
            var text: String?
        }
        let value: SocketValue = ["to": "abc", "text": "hi"]
        #expect(try value.decode(Message.self) == Message(to: "abc", text: "hi"))
        #expect(try SocketValue(encoding: Message(to: "x", text: nil)) == ["to": "x"])
    }

    @Test func decodesNestedValuesAndExactNumbers() throws {
        struct Inner: Decodable, Equatable {
            var flags: [Bool]
            var count: UInt8
        }
        struct Outer: Decodable, Equatable {
            var id: Int
            var ratio: Double
            var inner: Inner
            var note: String?
        }
        let value: SocketValue = ["id": .double(3), "ratio": 1, "inner": ["flags": [true, false], "count": 255]]
        #expect(
            try value.decode(Outer.self)
                == Outer(id: 3, ratio: 1, inner: Inner(flags: [true, false], count: 255), note: nil))
        // A number that does not fit is a type mismatch at its path, not a rounding.
        let tooBig: SocketValue = ["id": 1, "ratio": 1, "inner": ["flags": [], "count": 256]]
        #expect {
            try tooBig.decode(Outer.self)
        } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["inner", "count"]
        }
        #expect(throws: DecodingError.self) { try (["id": 1.5] as SocketValue).decode([String: Int].self) }
    }
}
