// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import CMongoC

/// A failure the MongoDB driver or server reported: the driver's error domain, the server's (or
/// driver's) code and its message.
public struct MongoError: Error, Sendable, Hashable, CustomStringConvertible {
    public var domain: UInt32
    public var code: Int
    public var message: String

    public init(domain: UInt32, code: Int, message: String) {
        self.domain = domain
        self.code = code
        self.message = message
    }

    init(_ error: UnsafePointer<bson_error_t>) {
        self.init(
            domain: parley_bson_error_domain(error),
            code: Int(parley_bson_error_code(error)),
            message: String(cString: parley_bson_error_message(error))
        )
    }

    public var description: String { "MongoDB error \(code): \(message)" }

    /// The server refused a write that would break a unique index (E11000).
    public var isDuplicateKey: Bool { [11000, 11001, 12582].contains(code) }

    /// The deployment cannot be reached or cannot take the operation right now (no server
    /// selectable, a connection lost, a primary stepping down): worth retrying later, not a bug.
    public var isUnavailable: Bool {
        switch domain {
        case MONGOC_ERROR_STREAM.rawValue, MONGOC_ERROR_SERVER_SELECTION.rawValue, MONGOC_ERROR_PROTOCOL.rawValue:
            return true
        default:
            // Server codes for shutdowns, elections and network trouble.
            return [6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436].contains(code)
        }
    }
}

/// One failed document of a bulk write, as the server reports it in `writeErrors`.
public struct MongoWriteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Position of the document in the batch.
    public var index: Int
    public var code: Int
    public var message: String
    /// The unique index's key pattern for a duplicate key, when the server says (4.4+).
    public var keyPattern: BSONDocument?

    public var description: String { "MongoDB write error \(code) at \(index): \(message)" }

    public var isDuplicateKey: Bool { code == 11000 || code == 11001 }

    /// Whether a duplicate key is on `field` (by the key pattern, or the index name in the message
    /// for servers that do not send one).
    public func isDuplicate(on field: String) -> Bool {
        guard isDuplicateKey else { return false }
        if let keyPattern { return keyPattern[field] != nil }
        return message.contains("\(field)_") || message.contains("\(field):") || message.contains("'\(field)'")
    }
}

/// What the server answered to an insert, update or delete command.
public struct MongoWriteResult: Sendable, Hashable {
    /// Documents inserted, matched (updates) or deleted.
    public var count: Int
    /// Documents an update changed.
    public var modified: Int
    public var writeErrors: [MongoWriteError]

    init() {
        count = 0
        modified = 0
        writeErrors = []
    }

    /// Reads a write command's reply (`n`, `nModified`) or a write helper's (`insertedCount`,
    /// `matchedCount`, `modifiedCount`, `deletedCount`).
    init(reply: BSONDocument) throws(MongoError) {
        count =
            (reply["n"] ?? reply["insertedCount"] ?? reply["matchedCount"] ?? reply["deletedCount"])?.intValue ?? 0
        modified = (reply["nModified"] ?? reply["modifiedCount"])?.intValue ?? 0
        writeErrors = (reply["writeErrors"]?.arrayValue ?? []).compactMap { value in
            guard let error = value.documentValue else { return nil }
            return MongoWriteError(
                index: error["index"]?.intValue ?? 0,
                code: error["code"]?.intValue ?? 0,
                message: error["errmsg"]?.stringValue ?? "",
                keyPattern: error["keyPattern"]?.documentValue
            )
        }
        if let concern = reply["writeConcernError"]?.documentValue {
            throw MongoError(
                domain: MONGOC_ERROR_WRITE_CONCERN.rawValue,
                code: concern["code"]?.intValue ?? 64,
                message: concern["errmsg"]?.stringValue ?? "write concern error"
            )
        }
    }
}
#endif
