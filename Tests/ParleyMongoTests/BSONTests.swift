#if MongoDB
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyMongo
@testable import ParleyTesting

@Suite("BSON")
struct BSONTests {
    @Test func encodesTheSpecificationsExample() {
        // {"hello": "world"} from bsonspec.org.
        let document: BSONDocument = ["hello": "world"]
        #expect(
            document.bytes == [
                0x16, 0, 0, 0, 0x02, 0x68, 0x65, 0x6C, 0x6C, 0x6F, 0, 0x06, 0, 0, 0, 0x77, 0x6F, 0x72, 0x6C, 0x64, 0,
                0,
            ])
    }

    @Test func everyTypeSurvivesARoundTrip() throws {
        let id = ObjectID("5f1a2b3c4d5e6f7a8b9c0d1e")!
        let document: BSONDocument = [
            "double": .double(-1.5), "string": "grüße\u{0}inside", "document": ["nested": ["deeper": .null]],
            "array": [1, "two", .int64(3)], "binary": .binary(subtype: 4, bytes: [1, 2, 3]),
            "id": .objectID(id), "true": true, "false": false, "date": .date(-1_000), "null": .null,
            "int32": .int32(.min), "int64": .int64(.max),
            // A regular expression and a decimal128, kept as they came.
            "regex": .other(type: 0x0B, bytes: Array("^a\u{0}i\u{0}".utf8)),
            "decimal": .other(type: 0x13, bytes: Array(repeating: 7, count: 16)),
        ]
        let decoded = try BSONDocument(bytes: document.bytes)
        #expect(decoded == document)
        #expect(decoded.keys == document.keys, "field order is kept")
        #expect(decoded["id"]?.objectIDValue == id)
        #expect(decoded["array"]?.arrayValue?.count == 3)
    }

    @Test func integersReadAsIntWhateverTheirWidth() {
        #expect(BSON.int32(5).intValue == 5)
        #expect(BSON.int64(5).intValue == 5)
        #expect(BSON.double(5).intValue == 5)
        #expect(BSON.double(5.5).intValue == nil)
        #expect(BSON.string("5").intValue == nil)
    }

    @Test func subscriptSetsReplacesAndRemoves() {
        var document: BSONDocument = ["a": 1, "b": 2]
        document["a"] = "one"
        document["c"] = 3
        document["b"] = nil
        #expect(document == ["a": "one", "c": 3])
    }

    static let malformed: [(String, [UInt8])] = [
        ("empty", []),
        ("too short", [5, 0, 0]),
        ("length beyond the bytes", [0x10, 0, 0, 0, 0]),
        ("no terminating zero", [5, 0, 0, 0, 1]),
        ("unknown type", [8, 0, 0, 0, 0x42, 0x61, 0, 0]),
        ("boolean that is not 0 or 1", [9, 0, 0, 0, 0x08, 0x61, 0, 2, 0]),
        ("string length past the end", [0x0D, 0, 0, 0, 0x02, 0x61, 0, 0x40, 0, 0, 0, 0x62, 0]),
        ("string without NUL", [0x0E, 0, 0, 0, 0x02, 0x61, 0, 2, 0, 0, 0, 0x62, 0x63, 0]),
        ("invalid UTF-8", [0x0E, 0, 0, 0, 0x02, 0x61, 0, 2, 0, 0, 0, 0xFF, 0, 0]),
        ("truncated ObjectId", [0x0C, 0, 0, 0, 0x07, 0x61, 0, 1, 2, 3, 4, 0]),
        ("negative binary length", [0x0E, 0, 0, 0, 0x05, 0x61, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0]),
        ("bytes after the document", [5, 0, 0, 0, 0, 0]),
    ]

    @Test(arguments: malformed)
    func malformedBytesAreAnErrorNotACrash(name: String, bytes: [UInt8]) {
        #expect(throws: BSONError.self, "\(name)") { try BSONDocument(bytes: bytes) }
    }

    @Test func deepNestingIsRefused() {
        var document: BSONDocument = ["leaf": 1]
        for _ in 0..<200 { document = ["d": .document(document)] }
        #expect(throws: BSONError.self) { try BSONDocument(bytes: document.bytes) }
    }
}
#endif
