import NIOCore

/// Rows in the text format of `COPY … FROM STDIN`: columns separated by tabs, rows ended by a
/// newline, `\N` for NULL, and backslash escapes for the characters that would break the framing.
struct PostgresCopyText {
    private(set) var buffer: ByteBuffer
    private var columnsInRow = 0

    init(capacity: Int = 64 * 1024) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func append(_ value: String?) {
        if columnsInRow > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
        columnsInRow += 1
        guard let value else {
            buffer.writeStaticString("\\N")
            return
        }
        var utf8 = value.utf8
        // Most values need no escaping: write them in one go.
        if !utf8.contains(where: Self.needsEscape) {
            buffer.writeString(value)
            return
        }
        utf8 = value.utf8
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            default: buffer.writeInteger(byte)
            }
        }
    }

    mutating func append(_ value: Int64?) {
        append(value.map { String($0) })
    }

    mutating func endRow() {
        buffer.writeInteger(UInt8(ascii: "\n"))
        columnsInRow = 0
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
            || byte == UInt8(ascii: "\t")
    }
}
