/// The input rules every entry point (REST and Socket.IO) applies, in one place.
public enum Validation {
    public static let maximumNameLength = 100
    public static let maximumEmailLength = 254
    public static let minimumPasswordLength = 6
    /// bcrypt reads only the first 72 bytes; longer new passwords would be silently truncated.
    public static let maximumPasswordBytes = 72
    public static let maximumTextLength = 5000

    /// A display name: trimmed, 1–100 characters, no control characters.
    public static func name(_ raw: String?) throws -> String {
        guard let raw else { throw ParleyError.missingField("name") }
        let name = raw.trimmingWhitespace()
        guard !name.isEmpty else { throw ParleyError.invalidField("name", "name must not be empty") }
        guard name.count <= maximumNameLength else {
            throw ParleyError.invalidField("name", "name must be at most \(maximumNameLength) characters")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ParleyError.invalidField("name", "name must not contain control characters")
        }
        return name
    }

    /// An email address, normalised: trimmed and lower-cased.
    public static func email(_ raw: String?) throws -> String {
        guard let raw else { throw ParleyError.missingField("email") }
        let email = normalizedEmail(raw)
        guard isPlausibleEmail(email) else {
            throw ParleyError.invalidField("email", "email must be a valid email address")
        }
        return email
    }

    /// The form emails are stored and looked up in.
    public static func normalizedEmail(_ raw: String) -> String {
        raw.trimmingWhitespace().lowercased()
    }

    /// A new password: 6 characters to 72 bytes, no NUL.
    public static func newPassword(_ raw: String?) throws -> String {
        guard let password = raw else { throw ParleyError.missingField("password") }
        guard password.count >= minimumPasswordLength else {
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
        return password
    }

    /// Message text: absent or blank means none; otherwise at most 5000 characters, no NUL.
    public static func messageText(_ raw: String?) throws -> String? {
        guard let text = raw, !text.trimmingWhitespace().isEmpty else { return nil }
        guard text.count <= maximumTextLength else {
            throw ParleyError.invalidField("text", "text must be at most \(maximumTextLength) characters")
        }
        guard !text.utf8.contains(0) else {
            throw ParleyError.invalidField("text", "text must not contain NUL characters")
        }
        return text
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
        }
    }
}

extension String {
    /// The string without leading and trailing whitespace and newlines.
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
