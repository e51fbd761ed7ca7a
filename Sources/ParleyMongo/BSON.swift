// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

/// A BSON value: what a MongoDB document field holds.
///
/// The types Parley writes and reads have their own cases; any other type a foreign document
/// may hold (regular expressions, decimals, JavaScript, …) is kept as ``other(type:bytes:)`` so
/// that reading such a document never fails and writing it back keeps it unchanged.
public enum BSON: Sendable, Hashable {
    case double(Double)
    case string(String)
    case document(BSONDocument)
    case array([BSON])
    case binary(subtype: UInt8, bytes: [UInt8])
    case objectID(ObjectID)
    case bool(Bool)
    /// Milliseconds since 1970, as BSON stores dates.
    case date(Int64)
    case null
    case int32(Int32)
    case int64(Int64)
    /// Any other BSON type, by its type byte and its encoded value.
    case other(type: UInt8, bytes: [UInt8])
}

extension BSON {
    public static func date(_ timestamp: Timestamp) -> BSON { .date(timestamp.millisecondsSince1970) }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var objectIDValue: ObjectID? {
        if case .objectID(let value) = self { return value }
        return nil
    }

    public var documentValue: BSONDocument? {
        if case .document(let value) = self { return value }
        return nil
    }

    public var arrayValue: [BSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The date as a ``Timestamp``.
    public var timestampValue: Timestamp? {
        if case .date(let milliseconds) = self { return Timestamp(millisecondsSince1970: milliseconds) }
        return nil
    }

    /// Any numeric type as an integer (servers answer counts as int32, int64 or double).
    public var intValue: Int? {
        switch self {
        case .int32(let value): Int(value)
        case .int64(let value): Int(exactly: value)
        case .double(let value): Int(exactly: value)
        default: nil
        }
    }

    /// Whether the value is `null` (a missing field reads as `nil`, not as this).
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The BSON type name, for error messages about foreign documents.
    public var typeName: String {
        switch self {
        case .double: "double"
        case .string: "string"
        case .document: "object"
        case .array: "array"
        case .binary: "binData"
        case .objectID: "objectId"
        case .bool: "bool"
        case .date: "date"
        case .null: "null"
        case .int32: "int"
        case .int64: "long"
        case .other(let type, _): "type 0x\(String(type, radix: 16))"
        }
    }
}

extension BSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    /// Integer literals are int32, as the shell and Mongoose write small numbers (`__v: 0`, `1` in
    /// index keys).
    public init(integerLiteral value: Int32) { self = .int32(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: BSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, BSON)...) { self = .document(BSONDocument(elements)) }
}

/// A BSON document: fields in order (MongoDB cares about the order of a command's fields and of
/// an index's keys).
public struct BSONDocument: Sendable, Hashable {
    public private(set) var fields: [(key: String, value: BSON)]

    public init() { fields = [] }

    public init(_ fields: [(String, BSON)]) {
        self.fields = fields.map { (key: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { fields.isEmpty }

    public var keys: [String] { fields.map(\.key) }

    /// The value of the first field named `key`; setting `nil` removes the field, setting a new
    /// key appends it.
    public subscript(key: String) -> BSON? {
        get { fields.first { $0.key == key }?.value }
        set {
            if let index = fields.firstIndex(where: { $0.key == key }) {
                if let newValue { fields[index].value = newValue } else { fields.remove(at: index) }
            } else if let newValue {
                fields.append((key: key, value: newValue))
            }
        }
    }

    public static func == (lhs: BSONDocument, rhs: BSONDocument) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.key)
            hasher.combine(field.value)
        }
    }
}

extension BSONDocument: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, BSON)...) { self.init(elements) }
}
#endif
