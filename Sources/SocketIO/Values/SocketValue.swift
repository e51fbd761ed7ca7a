import NIOCore
import OrderedCollections

/// A value in a Socket.IO event or acknowledgement: JSON, plus binary data.
///
/// Objects keep their key order and integers stay integers, so an event echoed back is
/// byte-for-byte what arrived (`["message",1,"2",{"3":[true]}]`). Binary values travel as
/// attachments and come back as ``binary(_:)`` wherever they were in the structure.
public enum SocketValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([SocketValue])
    case object(OrderedDictionary<String, SocketValue>)
    case binary(ByteBuffer)
    /// JSON text written into packets as it is (see ``EncodedJSON``). Its members cannot be read
    /// through the accessors below, and it equals only the same text.
    case encoded(EncodedJSON)

    /// The member `key` of an object, or `nil`.
    public subscript(key: String) -> SocketValue? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    /// The element at `index` of an array, or `nil`.
    public subscript(index: Int) -> SocketValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    public var stringValue: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    public var boolValue: Bool? {
        guard case .bool(let value) = self else { return nil }
        return value
    }

    /// The value as a whole number, if it is one (`3` or `3.0`).
    public var intValue: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value) where value.rounded() == value && abs(value) < 9.0e15: Int64(value)
        default: nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    public var isNull: Bool { self == .null }

    /// An object with these members, in this order (a later duplicate key wins).
    public init(members: [(String, SocketValue)]) {
        self = .object(OrderedDictionary(members, uniquingKeysWith: { _, last in last }))
    }

    /// Whether the value or anything inside it is binary (and so needs attachments).
    public var containsBinary: Bool {
        switch self {
        case .binary: true
        case .array(let elements): elements.contains { $0.containsBinary }
        case .object(let members): members.values.contains { $0.containsBinary }
        default: false
        }
    }
}

extension SocketValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: SocketValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, SocketValue)...) {
        self = .object(OrderedDictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension SocketValue: CustomStringConvertible {
    /// The JSON form (binary shown as a placeholder).
    public var description: String {
        String(decoding: jsonBytes(), as: UTF8.self)
    }
}
