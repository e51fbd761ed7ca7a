/// Reads JSON text by hand, member by member, for the values decoded once or more for every
/// message sent (its cluster event, on every instance). The counterpart of ``JSONWriter``.
///
/// The reader is strict: anything that is not RFC 8259 JSON throws ``Malformed``, nesting is
/// bounded, and `\u` escapes must pair surrogates. Values a caller does not ask for are skipped.
public struct JSONReader {
    /// The text is not JSON, or not of the expected shape.
    public struct Malformed: Error, Hashable {
        /// Where reading stopped, in bytes from the start.
        public let offset: Int
    }

    /// Deeper nesting than this is refused, so that no input can exhaust the stack.
    public static let maximumDepth = 64

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    public init(_ text: String) {
        bytes = Array(text.utf8)
    }

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The kinds of JSON values.
    public enum ValueKind: Sendable, Hashable {
        case object, array, string, number, bool, null
    }

    // MARK: Values

    /// The kind of the value that comes next, without reading it.
    public mutating func nextKind() throws -> ValueKind {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
            return .number
        default: throw malformed
        }
    }

    /// Reads an object, calling `member` with each key; `member` must read or skip its value.
    public mutating func readObject(_ member: (inout JSONReader, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        try enter()
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return
        }
        while true {
            skipWhitespace()
            let key = try readString()
            try expect(UInt8(ascii: ":"))
            try member(&self, key)
            skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"):
                depth -= 1
                return
            default: throw malformed
            }
        }
    }

    /// Reads a string.
    public mutating func readString() throws -> String {
        skipWhitespace()
        try expect(UInt8(ascii: "\""))
        var start = index
        var unescaped: [UInt8] = []
        var escaped = false
        while true {
            guard let byte = next() else { throw malformed }
            switch byte {
            case UInt8(ascii: "\""):
                guard escaped else { return try Self.string(bytes[start..<index - 1], at: index) }
                unescaped += bytes[start..<index - 1]
                return try Self.string(unescaped[...], at: index)
            case UInt8(ascii: "\\"):
                escaped = true
                unescaped += bytes[start..<index - 1]
                try readEscape(into: &unescaped)
                start = index
            case 0..<0x20:
                throw malformed
            default:
                continue
            }
        }
    }

    /// Reads a string or `null`.
    public mutating func readStringOrNull() throws -> String? {
        skipWhitespace()
        if peek() == UInt8(ascii: "n") {
            try expectLiteral("null")
            return nil
        }
        return try readString()
    }

    /// Reads and discards any value.
    public mutating func skipValue() throws {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"):
            try readObject { reader, _ in try reader.skipValue() }
        case UInt8(ascii: "["):
            index += 1
            try enter()
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
            } else {
                while true {
                    try skipValue()
                    skipWhitespace()
                    let separator = next()
                    if separator == UInt8(ascii: "]") { break }
                    guard separator == UInt8(ascii: ",") else { throw malformed }
                }
            }
            depth -= 1
        case UInt8(ascii: "\""):
            _ = try readString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
            try skipNumber()
        default: throw malformed
        }
    }

    /// Checks that nothing but whitespace follows.
    public mutating func finish() throws {
        skipWhitespace()
        guard index == bytes.count else { throw malformed }
    }

    // MARK: Pieces

    private var malformed: Malformed { Malformed(offset: index) }

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    private mutating func expect(_ byte: UInt8) throws {
        skipWhitespace()
        guard next() == byte else { throw malformed }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count,
            literal.withUTF8Buffer({ $0.elementsEqual(bytes[index..<index + count]) })
        else { throw malformed }
        index += count
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= Self.maximumDepth else { throw malformed }
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            index += 1
        }
    }

    private mutating func skipNumber() throws {
        // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = next(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw malformed }
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard skipDigits() > 0 else { throw malformed }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard skipDigits() > 0 else { throw malformed }
        }
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = index
        while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        return index - start
    }

    private mutating func readEscape(into output: inout [UInt8]) throws {
        switch next() {
        case UInt8(ascii: "\""): output.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): output.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "/"): output.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHex4()
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                guard next() == UInt8(ascii: "\\"), next() == UInt8(ascii: "u") else { throw malformed }
                let low = try readHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw malformed }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw malformed
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw malformed }
            output.append(contentsOf: String(Character(unicode)).utf8)
        default:
            throw malformed
        }
    }

    private mutating func readHex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = next() else { throw malformed }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw malformed
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private static func string(_ utf8: ArraySlice<UInt8>, at offset: Int) throws -> String {
        guard let string = String(validating: utf8, as: UTF8.self) else { throw Malformed(offset: offset) }
        return string
    }
}
