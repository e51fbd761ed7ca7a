import Testing

@testable import SocketIO

@Suite("Engine.IO session binding")
struct EngineSessionBindingTests {
    let withToken = EngineSessionBinding(credential: "ann", address: "10.0.0.1")
    let withoutToken = EngineSessionBinding(credential: nil, address: "10.0.0.1")

    @Test func aRequestWithATokenMustCarryTheSameOneFromAnyAddress() {
        #expect(withToken.admits(.init(credential: "ann", address: "10.0.0.9")))
        #expect(!withToken.admits(.init(credential: "bob", address: "10.0.0.1")))
    }

    @Test func aRequestWithoutATokenMustComeFromTheSameAddress() {
        #expect(withToken.admits(.init(credential: nil, address: "10.0.0.1")))
        #expect(!withToken.admits(.init(credential: nil, address: "10.0.0.2")))
        #expect(withoutToken.admits(.init(credential: nil, address: "10.0.0.1")))
        #expect(!withoutToken.admits(.init(credential: nil, address: "10.0.0.2")))
    }

    @Test func aTokenWhereTheHandshakeHadNoneCountsOnlyFromTheSameAddress() {
        #expect(withoutToken.admits(.init(credential: "ann", address: "10.0.0.1")))
        #expect(!withoutToken.admits(.init(credential: "ann", address: "10.0.0.2")))
    }
}
