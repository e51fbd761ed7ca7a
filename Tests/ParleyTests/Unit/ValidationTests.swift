import ParleyChat
import Testing

@Suite("Validation")
struct ValidationTests {
    @Test func normalisesEmails() throws {
        #expect(try Validation.email("  Ann.Lee@Example.COM ") == "ann.lee@example.com")
    }

    @Test(arguments: [
        "", "ann", "ann@", "@example.com", "ann@example", "ann lee@example.com", "ann@@example.com", "ann@-x.com",
        "ann@example..com", "a\u{0}@example.com",
    ])
    func rejectsInvalidEmails(_ email: String) {
        #expect(throws: ParleyError.self) { try Validation.email(email) }
    }

    @Test func requiresFields() {
        #expect(throws: ParleyError.missingField("email")) { try Validation.email(nil) }
        #expect(throws: ParleyError.missingField("name")) { try Validation.name(nil) }
        #expect(throws: ParleyError.missingField("password")) { try Validation.newPassword(nil) }
    }

    @Test func checksNames() throws {
        #expect(try Validation.name("  Ann  ") == "Ann")
        #expect(throws: ParleyError.self) { try Validation.name("   ") }
        #expect(throws: ParleyError.self) { try Validation.name(String(repeating: "a", count: 101)) }
        #expect(try Validation.name(String(repeating: "é", count: 100)).count == 100)
        #expect(throws: ParleyError.self) { try Validation.name("a\u{7}b") }
    }

    @Test func checksPasswords() throws {
        #expect(throws: ParleyError.self) { try Validation.newPassword("12345") }
        #expect(try Validation.newPassword("123456") == "123456")
        #expect(try Validation.newPassword(String(repeating: "x", count: 72)).count == 72)
        #expect(throws: ParleyError.self) { try Validation.newPassword(String(repeating: "x", count: 73)) }
        #expect(throws: ParleyError.self) { try Validation.newPassword("abc\u{0}defg") }
    }

    @Test func checksMessageText() throws {
        #expect(try Validation.messageText(nil) == nil)
        #expect(try Validation.messageText("   ") == nil)
        #expect(try Validation.messageText(String(repeating: "a", count: 5000))?.count == 5000)
        #expect(throws: ParleyError.self) { try Validation.messageText(String(repeating: "a", count: 5001)) }
        #expect(try Validation.messageText(String(repeating: "👋", count: 5000))?.count == 5000)
        #expect(throws: ParleyError.self) { try Validation.messageText("a\u{0}") }
    }
}
