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

    /// Reads a document from its binary form with libbson's iterator, which checks every length
    /// against the bytes given; see ``BSONIterator``.
    public init(bytes: some Collection<UInt8>) throws(BSONError) {
        let bytes = Array(bytes)
        self = try bytes.withUnsafeBufferPointer { buffer throws(BSONError) in
            try BSONIterator.read(buffer.baseAddress, count: buffer.count)
        }
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

#endif
