import Foundation
import JSONText
import Testing

@Suite("JSONWriter")
struct JSONWriterTests {
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
        json.bool(true)
        json.beginObject()
        json.endObject()
        json.beginArray()
        json.endArray()
        json.raw(#"{"pre":"encoded"}"#)
        json.endArray()
        json.member("c", ifPresent: "y")
        json.endObject()
        #expect(json.text == #"{"a":"x","b":null,"list":["1",-2,true,{},[],{"pre":"encoded"}],"c":"y"}"#)
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
        // And another JSON parser reads the value back.
        let parsed = try JSONSerialization.jsonObject(with: Data(json.bytes), options: .fragmentsAllowed)
        #expect(parsed as? String == value)
    }

    @Test(arguments: [
        (Double.nan, "null"), (.infinity, "null"), (-.infinity, "null"), (100, "100"), (-0.0, "0"), (0.1, "0.1"),
        (1.5e-10, "1.5e-10"), (1e21, "1e+21"), (-2.5, "-2.5"), (123_456_789_012, "123456789012"),
    ])
    func writesNumbersAsJavaScriptDoes(value: Double, expected: String) {
        var json = JSONWriter()
        json.double(value)
        #expect(json.text == expected)
    }
}
