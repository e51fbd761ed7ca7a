import JSONText
import NIOCore
import OrderedCollections

extension SocketValue {
    /// Reads one JSON value into a tree: object key order kept (a repeated key keeps its first
    /// position and its last value, as JavaScript's `JSON.parse` does), integers kept as integers.
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        switch try reader.nextKind() {
        case .object:
            var members = OrderedDictionary<String, SocketValue>()
            try reader.readObject { reader, key throws(JSONReader.Malformed) in
                members[key] = try SocketValue(reading: &reader)
            }
            self = .object(members)
        case .array:
            var elements: [SocketValue] = []
            try reader.readArray { reader throws(JSONReader.Malformed) in
                elements.append(try SocketValue(reading: &reader))
            }
            self = .array(elements)
        case .string:
            self = .string(try reader.readString())
        case .number:
            switch try reader.readNumber() {
            case .integer(let value): self = .int(value)
            case .double(let value): self = .double(value)
            }
        case .bool:
            self = .bool(try reader.readBool())
        case .null:
            try reader.readNull()
            self = .null
        }
    }

    /// Parses exactly one JSON value, with optional surrounding whitespace.
    package static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONReader.Malformed) -> SocketValue {
        try JSONReader.read(bytes) { reader throws(JSONReader.Malformed) in
            let value = try SocketValue(reading: &reader)
            try reader.finish()
            return value
        }
    }

    static func parse(_ text: String) throws(JSONReader.Malformed) -> SocketValue {
        try JSONReader.read(text) { reader throws(JSONReader.Malformed) in
            let value = try SocketValue(reading: &reader)
            try reader.finish()
            return value
        }
    }

    /// Writes the value; binary values are replaced by whatever `binary` returns for them (the
    /// Socket.IO encoder returns placeholders and collects the buffers).
    func write(into writer: inout JSONWriter, binary: (ByteBuffer) -> SocketValue) {
        switch self {
        case .null: writer.null()
        case .bool(let flag): writer.bool(flag)
        case .int(let number): writer.integer(number)
        case .double(let number): writer.double(number)
        case .string(let string): writer.string(string)
        case .array(let elements):
            writer.beginArray()
            for element in elements { element.write(into: &writer, binary: binary) }
            writer.endArray()
        case .object(let members):
            writer.beginObject()
            for (key, member) in members {
                writer.key(key)
                member.write(into: &writer, binary: binary)
            }
            writer.endObject()
        case .binary(let buffer):
            binary(buffer).write(into: &writer, binary: { _ in .null })
        case .encoded(let json):
            writer.raw(json.text)
        }
    }

    /// The compact JSON text (binary values as `null`).
    package func jsonBytes(binary: (ByteBuffer) -> SocketValue = { _ in .null }) -> [UInt8] {
        var writer = JSONWriter(capacity: 64)
        write(into: &writer, binary: binary)
        return writer.bytes
    }
}
