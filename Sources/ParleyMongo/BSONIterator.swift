// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import CMongoC
import ParleyDomain

/// Reads BSON from the network (a server's replies) with libbson, the library the driver
/// already links, rather than with a parser of Parley's own.
///
/// libbson's iterator checks every length, key and element against the document's bounds as it
/// steps (`bson_iter_init_from_data`, `bson_iter_next`, `bson_iter_recurse`); its accessors
/// read the values. Parley adds two checks of its own: nesting is bounded (libbson 1.23's
/// `bson_validate` recurses without a limit, so a hostile server's deeply nested reply could
/// exhaust a thread's stack; `bson_iter_recurse` is only called below the limit), and strings
/// and keys must be valid UTF-8 (what `bson_validate`'s `BSON_VALIDATE_UTF8` checks). Types
/// without a case of their own keep their encoded bytes, so a foreign document copies unchanged.
enum BSONIterator {
    /// Documents nest at most this deep (MongoDB's own limit is 100).
    static let maximumDepth = 128

    /// Reads the document in `count` bytes at `data`.
    static func read(_ data: UnsafePointer<UInt8>?, count: Int) throws(BSONError) -> BSONDocument {
        guard let data, count >= 5 else { throw BSONError("a document needs at least 5 bytes") }
        return try withIterator { iterator throws(BSONError) in
            guard bson_iter_init_from_data(iterator, data, count) else {
                throw BSONError("the document's length or terminator is wrong")
            }
            return try readDocument(iterator, depth: 1)
        }
    }

    /// Reads a `bson_t` the driver handed over.
    static func read(driverDocument: OpaquePointer) throws(BSONError) -> BSONDocument {
        try read(bson_get_data(driverDocument), count: Int(parley_bson_length(driverDocument)))
    }

    private static func withIterator<Result>(
        _ body: (OpaquePointer) throws(BSONError) -> Result
    ) throws(BSONError) -> Result {
        let memory = UnsafeMutableRawPointer.allocate(
            byteCount: parley_bson_iter_size(), alignment: parley_bson_iter_alignment())
        defer { memory.deallocate() }
        return try body(OpaquePointer(memory))
    }

    /// Reads the elements `iterator` steps over (it is positioned before the first).
    private static func readDocument(_ iterator: OpaquePointer, depth: Int) throws(BSONError) -> BSONDocument {
        guard depth <= maximumDepth else { throw BSONError("documents nested deeper than \(maximumDepth)") }
        var fields: [(String, BSON)] = []
        while bson_iter_next(iterator) {
            let key = try string(bson_iter_key(iterator), length: Int(bson_iter_key_len(iterator)))
            fields.append((key, try readValue(iterator, depth: depth)))
        }
        // `bson_iter_next` stops at the end or at the first element that does not fit.
        guard parley_bson_iter_is_at_end(iterator) else { throw BSONError("an element runs past its document") }
        return BSONDocument(fields)
    }

    private static func readValue(_ iterator: OpaquePointer, depth: Int) throws(BSONError) -> BSON {
        let type = bson_iter_type(iterator)
        switch type {
        case BSON_TYPE_DOUBLE:
            return .double(bson_iter_double(iterator))
        case BSON_TYPE_UTF8:
            var length: UInt32 = 0
            let bytes = bson_iter_utf8(iterator, &length)
            return .string(try string(bytes, length: Int(length)))
        case BSON_TYPE_DOCUMENT, BSON_TYPE_ARRAY:
            guard depth < maximumDepth else { throw BSONError("documents nested deeper than \(maximumDepth)") }
            let child = try withIterator { child throws(BSONError) in
                guard bson_iter_recurse(iterator, child) else { throw BSONError("an embedded document is malformed") }
                return try readDocument(child, depth: depth + 1)
            }
            return type == BSON_TYPE_DOCUMENT ? .document(child) : .array(child.fields.map(\.value))
        case BSON_TYPE_BINARY:
            var subtype = BSON_SUBTYPE_BINARY
            var length: UInt32 = 0
            var bytes: UnsafePointer<UInt8>?
            bson_iter_binary(iterator, &subtype, &length, &bytes)
            let data = bytes.map { Array(UnsafeBufferPointer(start: $0, count: Int(length))) } ?? []
            return .binary(subtype: UInt8(truncatingIfNeeded: subtype.rawValue), bytes: data)
        case BSON_TYPE_OID:
            guard let oid = bson_iter_oid(iterator) else { throw BSONError("bad ObjectId") }
            let bytes = withUnsafeBytes(of: oid.pointee.bytes) { Array($0) }
            guard let id = ObjectID(bytes: bytes) else { throw BSONError("bad ObjectId") }
            return .objectID(id)
        case BSON_TYPE_BOOL:
            return .bool(bson_iter_bool(iterator))
        case BSON_TYPE_DATE_TIME:
            return .date(bson_iter_date_time(iterator))
        case BSON_TYPE_NULL:
            return .null
        case BSON_TYPE_INT32:
            return .int32(bson_iter_int32(iterator))
        case BSON_TYPE_INT64:
            return .int64(bson_iter_int64(iterator))
        default:
            var length: UInt32 = 0
            let bytes = parley_bson_iter_value_bytes(iterator, &length)
            let encoded = bytes.map { Array(UnsafeBufferPointer(start: $0, count: Int(length))) } ?? []
            return .other(type: UInt8(truncatingIfNeeded: type.rawValue), bytes: encoded)
        }
    }

    private static func string(_ bytes: UnsafePointer<CChar>?, length: Int) throws(BSONError) -> String {
        guard let bytes else { throw BSONError("a string is missing") }
        let buffer = UnsafeRawBufferPointer(start: bytes, count: length)
        guard let string = String(validating: buffer, as: UTF8.self) else { throw BSONError("invalid UTF-8") }
        return string
    }
}
#endif
