import Foundation
import ParleyDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#endif

/// The input rules every entry point (REST and Socket.IO) applies, in one place.
public enum Validation {
    public static let maximumNameLength = 100
    public static let maximumEmailLength = 254
    public static let minimumPasswordLength = 6
    /// bcrypt reads only the first 72 bytes; longer new passwords would be silently truncated.
    public static let maximumPasswordBytes = 72
    public static let maximumTextLength = 5000

    /// A display name: at most 100 code points as sent; canonically composed (NFC), trimmed of
    /// whitespace and invisible characters, with at least one visible one, no control characters
    /// and no bidirectional overrides (which make a name display as another).
    public static func name(_ raw: String?) throws -> String {
        guard let raw else { throw ParleyError.missingField("name") }
        // Lengths are counted in code points as sent, as JSON Schema's maxLength counts them.
        guard raw.unicodeScalars.count <= maximumNameLength else {
            throw ParleyError.invalidField("name", "name must be at most \(maximumNameLength) characters")
        }
        let name = raw.precomposedStringWithCanonicalMapping.trimmingWhitespace(andInvisible: true)
        guard name.unicodeScalars.contains(where: \.isVisible) else {
            throw ParleyError.invalidField("name", "name must have a visible character")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ParleyError.invalidField("name", "name must not contain control characters")
        }
        guard !name.unicodeScalars.contains(replacementCharacter) else {
            throw ParleyError.invalidField("name", invalidUnicode("name"))
        }
        guard !name.unicodeScalars.contains(where: \.isBidirectionalControl) else {
            throw ParleyError.invalidField("name", "name must not contain bidirectional control characters")
        }
        return name
    }

    /// An email address, normalised (see ``normalizedEmail(_:)``), with no invisible, space or
    /// control characters: two addresses that look the same are the same account.
    public static func email(_ raw: String?) throws -> String {
        guard let raw else { throw ParleyError.missingField("email") }
        guard raw.unicodeScalars.count <= maximumEmailLength else {
            throw ParleyError.invalidField("email", "email must be a valid email address")
        }
        let email = normalizedEmail(raw)
        guard isPlausibleEmail(email) else {
            throw ParleyError.invalidField("email", "email must be a valid email address")
        }
        return email
    }

    /// The form emails are stored and looked up in: compatibility-composed (NFKC, so full-width
    /// `ＡＮＮ＠ｅｘａｍｐｌｅ．ｃｏｍ` is `ann@example.com`), trimmed (of invisible characters
    /// too) and lower-cased.
    public static func normalizedEmail(_ raw: String) -> String {
        guard !raw.utf8.allSatisfy({ $0 < 0x80 }) else { return raw.trimmingWhitespace().lowercased() }
        return raw.precomposedStringWithCompatibilityMapping.trimmingWhitespace(andInvisible: true).lowercased()
    }

    /// A new password: 6 code points to 72 bytes, no NUL.
    public static func newPassword(_ raw: String?) throws -> String {
        guard let password = raw else { throw ParleyError.missingField("password") }
        guard password.unicodeScalars.count >= minimumPasswordLength else {
            throw ParleyError.invalidField(
                "password",
                "password must be at least \(minimumPasswordLength) characters"
            )
        }
        guard password.utf8.count <= maximumPasswordBytes else {
            throw ParleyError.invalidField("password", "password must be at most \(maximumPasswordBytes) bytes")
        }
        guard !password.utf8.contains(0) else {
            throw ParleyError.invalidField("password", "password must not contain NUL characters")
        }
        guard !password.unicodeScalars.contains(replacementCharacter) else {
            throw ParleyError.invalidField("password", invalidUnicode("password"))
        }
        return password
    }

    /// Message text: absent or blank means none; otherwise at most 5000 code points, no NUL.
    public static func messageText(_ raw: String?) throws -> String? {
        guard let text = raw, !text.trimmingWhitespace().isEmpty else { return nil }
        guard text.unicodeScalars.count <= maximumTextLength else {
            throw ParleyError.invalidField("text", "text must be at most \(maximumTextLength) characters")
        }
        guard !text.utf8.contains(0) else {
            throw ParleyError.invalidField("text", "text must not contain NUL characters")
        }
        guard !text.unicodeScalars.contains(replacementCharacter) else {
            throw ParleyError.invalidField("text", invalidUnicode("text"))
        }
        return text
    }

    /// U+FFFD: what the JSON reader makes of invalid UTF-8 and of `\u` escapes of unpaired
    /// surrogates (a string a client broke, say by cutting an emoji in half). Texts a user sees
    /// refuse it on every entry point, REST and Socket.IO alike, rather than store the damage.
    static let replacementCharacter: Unicode.Scalar = "\u{FFFD}"

    static func invalidUnicode(_ field: String) -> String {
        "\(field) must be valid Unicode (no U+FFFD, no unpaired surrogate, no invalid UTF-8)"
    }

    /// An id from a client.
    public static func id(_ raw: String?, field: String) throws -> ObjectID {
        guard let raw else { throw ParleyError.missingField(field) }
        guard let id = ObjectID(raw) else { throw ParleyError.invalidID(field) }
        return id
    }

    private static func isPlausibleEmail(_ email: String) -> Bool {
        guard email.utf8.count <= maximumEmailLength else { return false }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 }) else { return false }
        guard labels.allSatisfy({ !$0.hasPrefix("-") && !$0.hasSuffix("-") }) else { return false }
        return email.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value != 0x7F && !"()<>[]\\,;:\"".unicodeScalars.contains(scalar)
                && !scalar.isInvisible && scalar != replacementCharacter
                && ![.privateUse, .unassigned, .surrogate].contains(scalar.properties.generalCategory)
        }
    }
}

extension Unicode.Scalar {
    /// Whether the character renders as nothing: whitespace, controls, format and zero-width
    /// characters (default-ignorable ones, such as U+200B and U+FEFF) and the fillers that look
    /// blank (Hangul fillers, the blank Braille pattern).
    var isInvisible: Bool {
        if properties.isWhitespace || properties.isDefaultIgnorableCodePoint { return true }
        switch value {
        case 0x2800, 0x3164, 0x115F, 0x1160, 0xFFA0, 0x180E, 0x034F: return true
        default: break
        }
        switch properties.generalCategory {
        case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// Whether the character shows on its own: a letter, number, punctuation or symbol that is
    /// not invisible (a combining mark alone, a private-use or unassigned code point do not).
    var isVisible: Bool {
        guard !isInvisible else { return false }
        switch properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .spacingMark, .surrogate, .privateUse, .unassigned: return false
        default: return true
        }
    }

    /// The explicit embeddings, overrides and isolates of the bidirectional algorithm.
    var isBidirectionalControl: Bool {
        (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
    }
}

extension String {
    /// The string without leading and trailing whitespace and newlines (and, with
    /// `andInvisible`, characters that render as nothing).
    func trimmingWhitespace(andInvisible: Bool = false) -> String {
        let scalars = unicodeScalars
        let kept = { (scalar: Unicode.Scalar) in
            andInvisible ? !scalar.isInvisible : !scalar.properties.isWhitespace
        }
        guard let first = scalars.firstIndex(where: kept), let last = scalars.lastIndex(where: kept) else {
            return ""
        }
        return String(scalars[first...last])
    }
}
