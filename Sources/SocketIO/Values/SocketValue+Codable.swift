import OrderedCollections

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SocketValue {
    /// The value of an `Encodable` (through its JSON form).
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try data.withUnsafeBytes { try SocketValue.parse($0) }
    }

    /// Parses JSON text.
    public init(json: String) throws {
        self = try SocketValue.parse(json)
    }

    /// The compact JSON text (binary values as `null`).
    public var json: String { description }
}
