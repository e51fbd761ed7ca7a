/// Writes compact JSON, as JavaScript's `JSON.stringify` does: no spaces, members in the order
/// given, `/` and non-ASCII unescaped, integral numbers without a fraction, `NaN` and infinities
/// as `null`.
///
/// Written by hand for the hot path: every message is encoded once for its cluster event and
/// once for its answer and its event to clients (Foundation's `JSONEncoder` cost too much there:
/// see `docs/benchmarks.md`). Separators are the writer's business: call
/// ``key(_:)`` then write the value.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Whether the container being written already has a member or element, one per open
    /// container.
    private var containerHasContent: [Bool] = []

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// The text written so far.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Hands over the bytes written so far and goes on writing from where it was (inside the same
    /// containers): for documents streamed out in pieces.
    public mutating func takeBytes() -> [UInt8] {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }

    public mutating func endObject() { close(UInt8(ascii: "}")) }

    public mutating func beginArray() { open(UInt8(ascii: "[")) }

    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// The name of the next member of the open object; its value follows.
    public mutating func key(_ name: String) {
        separate()
        appendEscaped(name)
        bytes.append(UInt8(ascii: ":"))
        // The value that follows is not separated from its key.
        containerHasContent[containerHasContent.count - 1] = false
    }

    public mutating func string(_ value: String) {
        separate()
        appendEscaped(value)
    }

    /// Writes `value`, or `null`.
    public mutating func string(orNull value: String?) {
        if let value { string(value) } else { null() }
    }

    public mutating func null() {
        separate()
        append("null")
    }

    public mutating func bool(_ value: Bool) {
        separate()
        append(value ? "true" : "false")
    }

    public mutating func integer(_ value: Int64) {
        separate()
        append(String(value))
    }

    /// A number as JavaScript writes it: `3` for 3.0, `1e-7`, `null` for NaN and infinities.
    public mutating func double(_ value: Double) {
        separate()
        guard value.isFinite else {
            append("null")
            return
        }
        if value == value.rounded(), abs(value) < 9.2e18 {
            append(value == 0 ? "0" : String(Int64(value)))
            return
        }
        var text = String(value)
        // Swift and JavaScript agree on the shortest round-trip digits; only the exponent form
        // differs ("1e-07" against "1e-7", "1e+16" written the same).
        if let e = text.firstIndex(of: "e") {
            var exponent = text[text.index(after: e)...]
            var sign = "+"
            if let first = exponent.first, first == "-" || first == "+" {
                sign = String(first)
                exponent = exponent.dropFirst()
            }
            while exponent.count > 1, exponent.first == "0" { exponent = exponent.dropFirst() }
            text = String(text[..<e]) + "e" + sign + exponent
        }
        append(text)
    }

    /// A number as it was read.
    public mutating func number(_ value: JSONNumber) {
        switch value {
        case .integer(let integer): self.integer(integer)
        case .double(let double): self.double(double)
        }
    }

    /// JSON text written as it is, as one value: for values encoded once and sent many times.
    /// The caller vouches that `json` is exactly one JSON value.
    public mutating func raw(_ json: String) {
        separate()
        append(json)
    }

    /// A member whose value is a string.
    public mutating func member(_ name: String, _ value: String) {
        key(name)
        string(value)
    }

    /// A member whose value is a string or `null`.
    public mutating func member(_ name: String, orNull value: String?) {
        key(name)
        string(orNull: value)
    }

    /// A member written only when `value` is not `nil`.
    public mutating func member(_ name: String, ifPresent value: String?) {
        guard let value else { return }
        member(name, value)
    }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        containerHasContent.append(false)
    }

    private mutating func close(_ bracket: UInt8) {
        containerHasContent.removeLast()
        bytes.append(bracket)
    }

    private mutating func separate() {
        guard let last = containerHasContent.indices.last else { return }
        if containerHasContent[last] {
            bytes.append(UInt8(ascii: ","))
        } else {
            containerHasContent[last] = true
        }
    }

    private mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    private mutating func appendEscaped(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                start = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case 0x22: bytes.append(UInt8(ascii: "\""))
                case 0x5C: bytes.append(UInt8(ascii: "\\"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    bytes.append(contentsOf: [
                        UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), Self.hex[Int(byte >> 4)],
                        Self.hex[Int(byte & 0xF)],
                    ])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}
