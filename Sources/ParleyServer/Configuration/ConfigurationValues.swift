import Configuration

/// Typed, strict access to the raw configuration strings: a value that is set but wrong stops
/// startup with a ``ConfigurationError`` naming its key (swift-configuration's own `int(forKey:)`
/// would quietly fall back to the default).
public struct ConfigurationValues: Sendable {
    let reader: ConfigReader

    public init(reader: ConfigReader) {
        self.reader = reader
    }

    /// The trimmed value, with one pair of surrounding quotes removed (`.env` files keep them);
    /// an empty value counts as unset.
    public func string(_ key: String, isSecret: Bool = false) -> String? {
        guard var value = reader.string(forKey: ConfigKey(key), isSecret: isSecret) else { return nil }
        value = value.trimmingCharacters(in: " \t\r\n")
        if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
            value = String(value.dropFirst().dropLast())
        }
        return value.isEmpty ? nil : value
    }

    public func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = string(key) else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw ConfigurationError(
                key: key, "must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
        }
        return value
    }

    /// Milliseconds within `range`, as a `Duration`.
    public func milliseconds(_ key: String, in range: ClosedRange<Int>) throws -> Duration? {
        try integer(key, in: range).map { .milliseconds($0) }
    }

    public func boolean(_ key: String) throws -> Bool? {
        guard let raw = string(key) else { return nil }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(key: key, "must be true or false, got '\(raw)'")
        }
    }

    /// One of an enumeration's values, given in any case.
    public func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, as type: Choice.Type) throws -> Choice?
    where Choice.RawValue == String {
        guard let raw = string(key) else { return nil }
        guard let value = Choice(rawValue: raw.lowercased()) else {
            let names = Choice.allCases.map(\.rawValue)
            let list =
                names.count > 2
                ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined(separator: " or ")
            throw ConfigurationError(key: key, "must be \(list), got '\(raw)'")
        }
        return value
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set.unicodeScalars)
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !characters.contains($0) }),
            let last = scalars.lastIndex(where: { !characters.contains($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}
