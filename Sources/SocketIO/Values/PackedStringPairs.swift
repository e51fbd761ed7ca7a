import HTTPTypes

/// Pairs of strings (header names and values, query keys and values) kept in one allocation.
///
/// A connection keeps the request that opened it for as long as it lives, and most connections
/// never look at it again after they are authenticated. As `HTTPFields` and a dictionary, a
/// handshake's few headers and query parameters took about a kilobyte in a dozen objects per
/// idle connection (heaptrack, see docs/benchmarks.md); packed, they take one array of their
/// bytes, and are unpacked only when read.
///
/// Each string is stored as its UTF-8 length (LEB128) followed by its bytes, so any string,
/// including one with NUL bytes, comes back as it went in.
struct PackedStringPairs: Sendable, Hashable {
    private let bytes: [UInt8]

    init(_ pairs: some Collection<(String, String)>) {
        var size = 0
        for (first, second) in pairs {
            size += Self.encodedSize(first) + Self.encodedSize(second)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        for (first, second) in pairs {
            Self.append(first, to: &bytes)
            Self.append(second, to: &bytes)
        }
        self.bytes = bytes
    }

    /// The pairs, in the order they were packed.
    var pairs: [(String, String)] {
        var result: [(String, String)] = []
        var index = bytes.startIndex
        while index < bytes.endIndex, let first = Self.read(bytes, at: &index),
            let second = Self.read(bytes, at: &index)
        {
            result.append((first, second))
        }
        return result
    }

    private static func encodedSize(_ string: String) -> Int {
        var length = string.utf8.count
        var size = length + 1
        while length >= 0x80 {
            length >>= 7
            size += 1
        }
        return size
    }

    private static func append(_ string: String, to bytes: inout [UInt8]) {
        var length = string.utf8.count
        while length >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        bytes.append(UInt8(length))
        bytes.append(contentsOf: string.utf8)
    }

    /// The string at `index`, moving past it; `nil` only if the bytes were cut short, which
    /// ``init(_:)`` never does.
    private static func read(_ bytes: [UInt8], at index: inout Int) -> String? {
        var length = 0
        var shift = 0
        while index < bytes.endIndex, shift < Int.bitWidth {
            let byte = bytes[index]
            index += 1
            length |= Int(byte & 0x7F) << shift
            guard byte & 0x80 != 0 else {
                guard length <= bytes.endIndex - index else { return nil }
                let string = String(decoding: bytes[index..<index + length], as: UTF8.self)
                index += length
                return string
            }
            shift += 7
        }
        return nil
    }
}

extension PackedStringPairs {
    /// Header fields, by their names as the client spelled them.
    init(_ fields: HTTPFields) {
        self.init(fields.map { ($0.name.rawName, $0.value) })
    }

    /// Query parameters (in no particular order).
    init(_ query: [String: String]) {
        self.init(query.map { ($0.key, $0.value) })
    }

    var fields: HTTPFields {
        var fields = HTTPFields()
        for (name, value) in pairs {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return fields
    }

    var dictionary: [String: String] {
        Dictionary(pairs, uniquingKeysWith: { _, last in last })
    }
}
