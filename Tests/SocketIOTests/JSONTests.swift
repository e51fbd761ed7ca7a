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
}
