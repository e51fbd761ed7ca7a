import Synchronization

/// A 12-byte identifier in MongoDB's ObjectId layout, written as 24 lower-case hex digits.
///
/// Every store uses these ids (not database sequences or UUIDs) so that ids survive a copy between
/// stores and match documents written by the Node app. The layout is a 4-byte big-endian seconds
/// timestamp, 5 random bytes fixed per process and a 3-byte counter, so ids made by one process
/// sort by creation time.
public struct ObjectID: Sendable, Hashable, Comparable {
    /// Bytes 0–7, big-endian.
    @usableFromInline let high: UInt64
    /// Bytes 8–11, big-endian.
    @usableFromInline let low: UInt32

    /// Creates a new, process-unique id stamped with the current time.
    public init() {
        let seconds = UInt32(truncatingIfNeeded: Int64(Timestamp.now().millisecondsSince1970 / 1000))
        self.init(seconds: seconds)
    }

    /// Creates a new id for the given creation time in seconds since 1970.
    public init(seconds: UInt32) {
        let counter = Self.counter.add(1, ordering: .relaxed).newValue & 0x00FF_FFFF
        let random = Self.processRandom
        self.high = UInt64(seconds) << 32 | (random >> 8)
        self.low = UInt32(truncatingIfNeeded: random & 0xFF) << 24 | counter
    }

    /// Parses 24 hex digits (either case); returns `nil` for anything else.
    public init?(_ string: some StringProtocol) {
        let utf8 = string.utf8
        guard utf8.count == 24 else { return nil }
        var high: UInt64 = 0
        var low: UInt32 = 0
        var index = 0
        for byte in utf8 {
            guard let nibble = Self.nibble(byte) else { return nil }
            if index < 16 {
                high = high << 4 | UInt64(nibble)
            } else {
                low = low << 4 | UInt32(nibble)
            }
            index += 1
        }
        self.high = high
        self.low = low
    }

    /// Creates an id from its 12 raw bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 12 else { return nil }
        var high: UInt64 = 0
        var low: UInt32 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 {
                high = high << 8 | UInt64(byte)
            } else {
                low = low << 8 | UInt32(byte)
            }
        }
        self.high = high
        self.low = low
    }

    /// The 12 raw bytes, big-endian.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<4).map { UInt8(truncatingIfNeeded: low >> (24 - 8 * $0)) }
    }

    /// The creation time encoded in the id, in seconds since 1970.
    public var seconds: UInt32 { UInt32(truncatingIfNeeded: high >> 32) }

    /// The 24-digit lower-case hex form.
    public var hexString: String {
        String(unsafeUninitializedCapacity: 24) { buffer in
            writeHex(into: buffer)
            return 24
        }
    }

    /// Appends the 24-digit lower-case hex form to `bytes`, without making a `String` (for text
    /// that holds many ids).
    public func appendHex(to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 24))
        bytes.withUnsafeMutableBufferPointer { buffer in
            writeHex(into: UnsafeMutableBufferPointer(rebasing: buffer[start..<(start + 24)]))
        }
    }

    private func writeHex(into buffer: UnsafeMutableBufferPointer<UInt8>) {
        for index in 0..<16 {
            buffer[index] = Self.hexDigits[Int(truncatingIfNeeded: (high >> (60 - 4 * UInt64(index))) & 0xF)]
        }
        for index in 0..<8 {
            buffer[16 + index] = Self.hexDigits[Int(truncatingIfNeeded: (low >> (28 - 4 * UInt32(index))) & 0xF)]
        }
    }

    public static func < (lhs: ObjectID, rhs: ObjectID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    /// 5 random bytes (in the low 40 bits), fixed for the life of the process.
    private static let processRandom = UInt64.random(in: 0..<(1 << 40))
    private static let counter = Atomic<UInt32>(UInt32.random(in: 0..<0x0100_0000))
}

extension ObjectID: CustomStringConvertible, LosslessStringConvertible {
    public var description: String { hexString }
}

extension ObjectID: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let id = ObjectID(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Expected a 24-digit hex id")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hexString)
    }
}
