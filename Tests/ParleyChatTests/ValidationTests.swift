import ParleyDomain
import Testing

@testable import ParleyChat
@testable import ParleyTesting

@Suite("Validation")
struct ValidationTests {
    @Test func normalisesEmails() throws {
        #expect(try Validation.email("  Ann.Lee@Example.COM ") == "ann.lee@example.com")
        // Full-width forms are the same address as the ASCII one.
        #expect(try Validation.email("ＡＮＮ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "ann@example.com")
        #expect(try Validation.email("\u{FEFF}ann@example.com\u{3000}") == "ann@example.com")
    }

    /// Addresses that would look like another account's: invisible characters inside.
    @Test(arguments: [
        "an\u{200B}n@example.com", "ann@exa\u{200D}mple.com", "ann\u{00AD}@example.com", "an\u{2060}n@example.com",
        "ann@example.com\u{200E}x", "an\u{3164}n@example.com", "an\u{2800}n@example.com", "an\u{E000}n@example.com",
    ])
    func rejectsEmailsWithInvisibleCharacters(_ email: String) {
        #expect(throws: ParleyError.invalidField("email", "email must be a valid email address")) {
            try Validation.email(email)
        }
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

    @Test(arguments: [
        "\u{200B}", "\u{200B}\u{200C}\u{200D}", "\u{3164}", "\u{2800}\u{2800}", "\u{FEFF}", "\u{00AD}", " \u{0301} ",
        "\u{115F}\u{1160}", "\u{E000}",
    ])
    func refusesNamesWithNothingVisible(_ name: String) {
        #expect(throws: ParleyError.invalidField("name", "name must have a visible character")) {
            try Validation.name(name)
        }
    }

    @Test func namesAreComposedAndTrimmedOfInvisibleEdges() throws {
        #expect(try Validation.name("\u{200B}Ann\u{FEFF} ") == "Ann")
        #expect(try Validation.name("Jose\u{0301}") == "Jos\u{E9}")
        // Joiners inside a name are kept: emoji sequences and Persian names need them.
        #expect(try Validation.name("👨\u{200D}👩\u{200D}👧") == "👨\u{200D}👩\u{200D}👧")
        #expect(try Validation.name("\u{0645}\u{06CC}\u{200C}\u{0631}") == "\u{0645}\u{06CC}\u{200C}\u{0631}")
        #expect(throws: ParleyError.self) { try Validation.name("Ann\u{202E}nnA") }
    }

    /// What the JSON reader makes of broken strings (invalid UTF-8, unpaired surrogates): refused
    /// wherever a user would see it, whichever entry point it came through.
    @Test func refusesReplacementCharacters() {
        #expect(throws: ParleyError.invalidField("text", Validation.invalidUnicode("text"))) {
            try Validation.messageText("broken \u{FFFD} emoji")
        }
        #expect(throws: ParleyError.invalidField("name", Validation.invalidUnicode("name"))) {
            try Validation.name("Ann\u{FFFD}")
        }
        #expect(throws: ParleyError.invalidField("password", Validation.invalidUnicode("password"))) {
            try Validation.newPassword("secret\u{FFFD}1")
        }
        #expect(throws: ParleyError.self) { try Validation.email("ann\u{FFFD}@example.com") }
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
