// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

/// Why bytes are not a BSON document.
public struct BSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}

extension BSONDocument {
    /// The document in BSON's binary form.
    ///
    /// Keys are Parley's own field names and must not contain a NUL character.
    public var bytes: [UInt8] {
        var writer = BSONWriter()
        writer.write(self)
        return writer.bytes
    }

    /// Reads a document from its binary form, checking every length against the bytes given.
    public init(bytes: some Collection<UInt8>) throws(BSONError) {
        var reader = BSONReader(bytes: Array(bytes))
        self = try reader.readDocument()
        guard reader.isAtEnd else { throw BSONError("\(reader.remaining) bytes after the document") }
    }
}

private struct BSONWriter {
    var bytes: [UInt8] = []

    mutating func write(_ document: BSONDocument) {
        let start = bytes.count
        append(Int32(0))
        for (key, value) in document.fields {
            write(key, value)
        }
        bytes.append(0)
        patchLength(at: start)
    }

    private mutating func write(_ key: String, _ value: BSON) {
        bytes.append(Self.type(of: value))
        bytes += key.utf8
        bytes.append(0)
        switch value {
        case .double(let value): append(value.bitPattern)
        case .string(let value):
            append(Int32(value.utf8.count + 1))
            bytes += value.utf8
            bytes.append(0)
        case .document(let document): write(document)
        case .array(let elements):
            write(BSONDocument(elements.enumerated().map { (String($0.offset), $0.element) }))
        case .binary(let subtype, let data):
            append(Int32(data.count))
            bytes.append(subtype)
            bytes += data
        case .objectID(let id): bytes += id.bytes
        case .bool(let value): bytes.append(value ? 1 : 0)
        case .date(let milliseconds): append(milliseconds)
        case .null: break
        case .int32(let value): append(value)
        case .int64(let value): append(value)
        case .other(_, let encoded): bytes += encoded
        }
    }

    private static func type(of value: BSON) -> UInt8 {
        switch value {
        case .double: 0x01
        case .string: 0x02
        case .document: 0x03
        case .array: 0x04
        case .binary: 0x05
        case .objectID: 0x07
        case .bool: 0x08
        case .date: 0x09
        case .null: 0x0A
        case .int32: 0x10
        case .int64: 0x12
        case .other(let type, _): type
        }
    }

    private mutating func append<Integer: FixedWidthInteger>(_ value: Integer) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    private mutating func patchLength(at start: Int) {
        let length = UInt32(bytes.count - start)
        for offset in 0..<4 {
            bytes[start + offset] = UInt8(truncatingIfNeeded: length >> (8 * offset))
        }
    }
}

private struct BSONReader {
    let bytes: [UInt8]
    var position = 0
    /// Documents nest at most this deep (MongoDB's own limit is 100).
    static let maximumDepth = 128
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }
    var isAtEnd: Bool { position == bytes.count }

    mutating func readDocument() throws(BSONError) -> BSONDocument {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw BSONError("documents nested deeper than \(Self.maximumDepth)") }
        let start = position
        let length = Int(try readInteger(Int32.self))
        guard length >= 5, length <= remaining + 4 else { throw BSONError("document length \(length) is wrong") }
        let end = start + length
        var fields: [(String, BSON)] = []
        while position < end - 1 {
            let type = try readByte()
            let key = try readCString()
            fields.append((key, try readValue(type: type, end: end)))
        }
        guard position == end - 1, try readByte() == 0 else { throw BSONError("document does not end where it says") }
        return BSONDocument(fields)
    }

    private mutating func readValue(type: UInt8, end: Int) throws(BSONError) -> BSON {
        switch type {
        case 0x01: return .double(Double(bitPattern: try readInteger(UInt64.self)))
        case 0x02: return .string(try readString())
        case 0x03: return .document(try readDocument())
        case 0x04: return .array(try readDocument().fields.map(\.value))
        case 0x05:
            let length = Int(try readInteger(Int32.self))
            let subtype = try readByte()
            return .binary(subtype: subtype, bytes: try take(length))
        case 0x07:
            guard let id = ObjectID(bytes: try take(12)) else { throw BSONError("bad ObjectId") }
            return .objectID(id)
        case 0x08:
            switch try readByte() {
            case 0: return .bool(false)
            case 1: return .bool(true)
            case let byte: throw BSONError("boolean byte \(byte)")
            }
        case 0x09: return .date(try readInteger(Int64.self))
        case 0x0A: return .null
        case 0x10: return .int32(try readInteger(Int32.self))
        case 0x12: return .int64(try readInteger(Int64.self))
        default:
            let start = position
            try skipValue(type: type)
            return .other(type: type, bytes: Array(bytes[start..<position]))
        }
    }

    /// Steps over a value of a type without its own case, so foreign documents still read.
    private mutating func skipValue(type: UInt8) throws(BSONError) {
        switch type {
        case 0x06, 0x7F, 0xFF: break  // undefined, max key, min key
        case 0x0B:  // regular expression: pattern and options
            _ = try readCString()
            _ = try readCString()
        case 0x0C:  // DBPointer
            _ = try readString()
            _ = try take(12)
        case 0x0D, 0x0E: _ = try readString()  // JavaScript, symbol
        case 0x0F:  // JavaScript with scope
            let length = Int(try readInteger(Int32.self))
            guard length >= 14 else { throw BSONError("code with scope length \(length)") }
            _ = try take(length - 4)
        case 0x11: _ = try take(8)  // timestamp
        case 0x13: _ = try take(16)  // decimal128
        default: throw BSONError("unknown type 0x\(String(type, radix: 16))")
        }
    }

    private mutating func readByte() throws(BSONError) -> UInt8 {
        guard position < bytes.count else { throw BSONError("unexpected end") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func take(_ count: Int) throws(BSONError) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw BSONError("length \(count) runs past the end") }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    private mutating func readInteger<Integer: FixedWidthInteger>(_: Integer.Type) throws(BSONError) -> Integer {
        let size = MemoryLayout<Integer>.size
        guard size <= remaining else { throw BSONError("unexpected end") }
        var value: Integer = 0
        for offset in 0..<size {
            value |= Integer(truncatingIfNeeded: bytes[position + offset]) << (8 * offset)
        }
        position += size
        return value
    }

    private mutating func readCString() throws(BSONError) -> String {
        guard let terminator = bytes[position...].firstIndex(of: 0) else { throw BSONError("unterminated key") }
        defer { position = terminator + 1 }
        return try utf8(bytes[position..<terminator])
    }

    private mutating func readString() throws(BSONError) -> String {
        let length = Int(try readInteger(Int32.self))
        guard length >= 1 else { throw BSONError("string length \(length)") }
        let content = try take(length)
        guard content.last == 0 else { throw BSONError("string without its terminating NUL") }
        return try utf8(content.dropLast())
    }

    private func utf8(_ bytes: some Collection<UInt8>) throws(BSONError) -> String {
        guard let string = String(validating: bytes, as: UTF8.self) else { throw BSONError("invalid UTF-8") }
        return string
    }
}
#endif
