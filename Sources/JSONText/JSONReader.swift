/// Reads JSON text value by value, without building a tree: callers ask for what they expect
/// and skip what they do not need. Both Parley's domain (cluster events, request bodies) and the
/// SocketIO module (packet payloads, which it turns into its own value tree) read through it.
///
/// Written by hand for the hot path (every message is read once or more per instance); see the
/// benchmarks in `docs/benchmarks.md`.
///
/// - The grammar is RFC 8259's, strictly: no trailing commas, comments, single quotes, leading
///   zeros, `NaN`; nothing but whitespace after the value (``finish()``).
/// - Nesting deeper than ``maximumDepth`` is refused, so no input can exhaust the stack.
/// - Strings: like Go's `encoding/json`, invalid UTF-8 and `\u` escapes of unpaired surrogates
///   (which JavaScript's `JSON.stringify` writes for a broken string) become U+FFFD instead of
///   failing the whole text; an application refuses U+FFFD where it matters.
/// - Numbers keep whether they were written as integers (``JSONNumber``).
///
/// The reader works on bytes it does not own: create one with ``read(_:_:)`` (or its overloads)
/// and use it only inside that closure.
public struct JSONReader {
    /// The kinds of JSON values.
    public enum ValueKind: Sendable, Hashable {
        case object, array, string, number, bool, null
    }

    /// The text is not JSON, or not of the expected shape.
    public struct Malformed: Error, Hashable, CustomStringConvertible {
        /// Where reading stopped, in bytes from the start.
        public let offset: Int
        public let reason: String

        public init(offset: Int, reason: String) {
            self.offset = offset
            self.reason = reason
        }

        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Deeper nesting than this is refused.
    public static let maximumDepth = 128

    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Runs `body` with a reader over `bytes`.
    public static func read<Value>(
        _ bytes: UnsafeRawBufferPointer,
        _ body: (inout JSONReader) throws(Malformed) -> Value
    ) throws(Malformed) -> Value {
        var reader = JSONReader(bytes: bytes)
        return try body(&reader)
    }

    /// Runs `body` with a reader over the UTF-8 of `text`.
    public static func read<Value>(
        _ text: String,
        _ body: (inout JSONReader) throws(Malformed) -> Value
    ) throws(Malformed) -> Value {
        var text = text
        return try text.withUTF8 { utf8 in
            Result { () throws(Malformed) in try read(UnsafeRawBufferPointer(utf8), body) }
        }.get()
    }

    /// Runs `body` with a reader over `bytes`.
    public static func read<Value>(
        _ bytes: [UInt8],
        _ body: (inout JSONReader) throws(Malformed) -> Value
    ) throws(Malformed) -> Value {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(Malformed) in try read(buffer, body) }
        }.get()
    }

    /// Bytes read so far.
    public var offset: Int { index }

    // MARK: Values

    /// The kind of the value that comes next, without reading it.
    public mutating func nextKind() throws(Malformed) -> ValueKind {
        skipWhitespace()
        guard let byte = peek() else { throw malformed("unexpected end") }
        switch byte {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw malformed("unexpected character")
        }
    }

    /// Reads an object, calling `member` with each key in order; `member` must read or skip the
    /// member's value. A repeated key is reported each time.
    public mutating func readObject(
        _ member: (inout JSONReader, String) throws(Malformed) -> Void
    ) throws(Malformed) {
        skipWhitespace()
        guard next() == UInt8(ascii: "{") else { throw malformed("expected an object") }
        try enter()
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw malformed("expected a key") }
            let key = try readString()
            skipWhitespace()
            guard next() == UInt8(ascii: ":") else { throw malformed("expected ':'") }
            try member(&self, key)
            skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"):
                depth -= 1
                return
            default: throw malformed("expected ',' or '}'")
            }
        }
    }

    /// Reads an array, calling `element` for each element, which it must read or skip.
    public mutating func readArray(_ element: (inout JSONReader) throws(Malformed) -> Void) throws(Malformed) {
        skipWhitespace()
        guard next() == UInt8(ascii: "[") else { throw malformed("expected an array") }
        try enter()
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return
        }
        while true {
            try element(&self)
            skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "]"):
                depth -= 1
                return
            default: throw malformed("expected ',' or ']'")
            }
        }
    }

    /// Reads a string.
    public mutating func readString() throws(Malformed) -> String {
        skipWhitespace()
        guard next() == UInt8(ascii: "\"") else { throw malformed("expected a string") }
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let string = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw malformed("control character in a string") }
            index += 1
        }
        var utf8 = Array(bytes[start..<index])
        while let byte = next() {
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try readEscape(into: &utf8)
            case 0x00..<0x20:
                index -= 1
                throw malformed("control character in a string")
            default:
                utf8.append(byte)
            }
        }
        throw malformed("unterminated string")
    }

    /// Reads a string or `null`.
    public mutating func readStringOrNull() throws(Malformed) -> String? {
        skipWhitespace()
        if peek() == UInt8(ascii: "n") {
            try expectLiteral("null")
            return nil
        }
        return try readString()
    }

    /// Reads a number.
    public mutating func readNumber() throws(Malformed) -> JSONNumber {
        skipWhitespace()
        let start = index
        var isInteger = true
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = next(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw malformed("invalid number")
        }
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard skipDigits() > 0 else { throw malformed("invalid number") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard skipDigits() > 0 else { throw malformed("invalid number") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .integer(integer) }
        // Digits Double cannot hold become ±infinity; a JSON number is finite.
        guard let double = Double(text), double.isFinite else { throw malformed("number out of range") }
        return .double(double)
    }

    /// Reads `true` or `false`.
    public mutating func readBool() throws(Malformed) -> Bool {
        skipWhitespace()
        if peek() == UInt8(ascii: "t") {
            try expectLiteral("true")
            return true
        }
        try expectLiteral("false")
        return false
    }

    /// Reads `null`.
    public mutating func readNull() throws(Malformed) {
        skipWhitespace()
        try expectLiteral("null")
    }

    /// Reads and discards any value.
    public mutating func skipValue() throws(Malformed) {
        switch try nextKind() {
        case .object: try readObject { reader, _ throws(Malformed) in try reader.skipValue() }
        case .array: try readArray { reader throws(Malformed) in try reader.skipValue() }
        case .string: _ = try readString()
        case .number: _ = try readNumber()
        case .bool: _ = try readBool()
        case .null: try readNull()
        }
    }

    /// Checks that nothing but whitespace follows.
    public mutating func finish() throws(Malformed) {
        skipWhitespace()
        guard index == bytes.count else { throw malformed("unexpected data after the value") }
    }

    /// A failure at the current position.
    public func malformed(_ reason: String) -> Malformed {
        Malformed(offset: index, reason: reason)
    }

    // MARK: Pieces

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(Malformed) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count,
            literal.withUTF8Buffer({ $0.elementsEqual(bytes[index..<index + count]) })
        else { throw malformed("invalid literal") }
        index += count
    }

    private mutating func enter() throws(Malformed) {
        depth += 1
        guard depth <= Self.maximumDepth else { throw malformed("nested too deeply") }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = index
        while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        return index - start
    }

    private mutating func readEscape(into output: inout [UInt8]) throws(Malformed) {
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
            if (0xD800..<0xDC00).contains(scalar), index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                bytes[index + 1] == UInt8(ascii: "u")
            {
                let save = index
                index += 2
                let low = try readHex4()
                if (0xDC00..<0xE000).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    // Not a pair: the high one stands alone, the next escape is read on its own.
                    index = save
                }
            }
            let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
            output.append(contentsOf: String(Character(character)).utf8)
        default:
            index -= 1
            throw malformed("invalid escape")
        }
    }

    private mutating func readHex4() throws(Malformed) -> UInt32 {
        guard index + 4 <= bytes.count else { throw malformed("unexpected end") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw malformed("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}

/// A JSON number as it was written: an integer that fits in `Int64`, or any other number.
public enum JSONNumber: Sendable, Hashable {
    case integer(Int64)
    case double(Double)

    /// The number as a `Double` (integers beyond 2^53 lose precision).
    public var doubleValue: Double {
        switch self {
        case .integer(let value): Double(value)
        case .double(let value): value
        }
    }

    /// The number as an `Int64`, when it is a whole number in range (`3` or `3.0`).
    public var integerValue: Int64? {
        switch self {
        case .integer(let value): value
        case .double(let value): Int64(exactly: value)
        }
    }
}
