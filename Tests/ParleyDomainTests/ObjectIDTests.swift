import Foundation
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("ObjectID")
struct ObjectIDTests {
    @Test func roundTripsThroughHex() throws {
        let id = ObjectID()
        #expect(id.hexString.count == 24)
        #expect(ObjectID(id.hexString) == id)
        #expect(ObjectID(id.hexString.uppercased()) == id)
        #expect(ObjectID(bytes: id.bytes) == id)
    }

    @Test(arguments: [
        "", "abc", "zzzzzzzzzzzzzzzzzzzzzzzz", "507f1f77bcf86cd79943901", "507f1f77bcf86cd7994390111",
        " 07f1f77bcf86cd799439011",
    ])
    func rejectsMalformedStrings(_ string: String) {
        #expect(ObjectID(string) == nil)
    }

    @Test func readsMongoIDs() throws {
        let id = try #require(ObjectID("507f1f77bcf86cd799439011"))
        #expect(id.hexString == "507f1f77bcf86cd799439011")
        #expect(id.seconds == 0x507f1f77)
    }

    @Test func appendsItsHexFormToBytes() throws {
        let id = try #require(ObjectID("507f1f77bcf86cd799439011"))
        var bytes = Array("[\"".utf8)
        id.appendHex(to: &bytes)
        ObjectID().appendHex(to: &bytes)
        #expect(bytes.count == 2 + 48)
        #expect(String(decoding: bytes.prefix(26), as: UTF8.self) == "[\"507f1f77bcf86cd799439011")
    }

    @Test func isStampedWithTheCreationTimeAndIncreases() {
        let before = UInt32(Date().timeIntervalSince1970)
        let ids = (0..<1000).map { _ in ObjectID() }
        let after = UInt32(Date().timeIntervalSince1970)
        #expect(ids.allSatisfy { (before...after).contains($0.seconds) })
        #expect(Set(ids).count == 1000)
    }

    @Test func ordersLikeItsHexForm() {
        let ids = (0..<200).map { _ in ObjectID(seconds: UInt32.random(in: 0...UInt32.max)) }
        #expect(ids.sorted().map(\.hexString) == ids.map(\.hexString).sorted())
    }

    @Test func encodesAsAJSONString() throws {
        let id = try #require(ObjectID("507f1f77bcf86cd799439011"))
        let data = try JSONEncoder().encode([id])
        #expect(String(decoding: data, as: UTF8.self) == #"["507f1f77bcf86cd799439011"]"#)
        #expect(try JSONDecoder().decode([ObjectID].self, from: data) == [id])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ObjectID].self, from: Data(#"["nope"]"#.utf8)) }
    }
}
