import NIOCore
import OrderedCollections

/// Writes ``SocketValue``s as compact JSON, as JavaScript's `JSON.stringify` does: no spaces,
/// keys in order, `/` and non-ASCII unescaped, integral numbers without a fraction.
struct JSONSerializer {
    private(set) var bytes: [UInt8] = []

    init(reservingCapacity capacity: Int = 64) {
        bytes.reserveCapacity(capacity)
    }

    var output: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends `value`; binary values are replaced by whatever `binary` returns for them (the
    /// Socket.IO encoder returns placeholders and collects the buffers).
    mutating func write(_ value: SocketValue, binary: (ByteBuffer) -> SocketValue) {
        switch value {
        case .null:
            append("null")
        case .bool(let flag):
            append(flag ? "true" : "false")
        case .int(let number):
            append(String(number))
        case .double(let number):
            writeDouble(number)
        case .string(let string):
            writeString(string)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element, binary: binary)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (key, member) in members {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                writeString(key)
                bytes.append(UInt8(ascii: ":"))
                write(member, binary: binary)
            }
            bytes.append(UInt8(ascii: "}"))
        case .binary(let buffer):
            write(binary(buffer), binary: { _ in .null })
        case .encoded(let json):
            append(json.text)
        }
    }

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func writeDouble(_ number: Double) {
        guard number.isFinite else {
            // JSON.stringify writes NaN and ±Infinity as null.
            append("null")
            return
        }
        if number == number.rounded(), abs(number) < 9.2e18 {
            // Integral: JavaScript writes 3, not 3.0 (and 0 for -0).
            append(number == 0 ? "0" : String(Int64(number)))
            return
        }
        var text = String(number)
        // Swift and JavaScript agree on the shortest round-trip digits; only the exponent form differs
        // ("1e-07" vs "1e-7").
        if let e = text.firstIndex(of: "e") {
            var exponent = text[text.index(after: e)...]
            var sign = ""
            if exponent.first == "-" || exponent.first == "+" {
                sign = String(exponent.first!)
                exponent = exponent.dropFirst()
            }
            while exponent.count > 1, exponent.first == "0" { exponent = exponent.dropFirst() }
            text = String(text[..<e]) + "e" + (sign.isEmpty ? "+" : sign) + exponent
        }
        append(text)
    }

    private mutating func writeString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x08: append("\\b")
            case 0x0C: append("\\f")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0x00..<0x20:
                append("\\u00")
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}
