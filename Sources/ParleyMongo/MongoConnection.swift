// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import CMongoC

/// One driver client on the thread that popped it, and the commands Parley sends with it.
///
/// Every method blocks until the server answers; use it only inside
/// ``MongoConnectionPool/withConnection(_:)``. Commands are sent as documents (the server's own
/// command language), so what is sent is exactly what the unit tests see.
public struct MongoConnection {
    let client: OpaquePointer
    public let database: String

    /// Runs one command on the database and returns the server's reply.
    /// - Throws: ``MongoError`` when the server answers `ok: 0` or cannot be reached.
    public func runCommand(_ command: BSONDocument) throws -> BSONDocument {
        try withDriverDocument(command) { document in
            let reply = UnsafeMutableRawPointer.allocate(
                byteCount: parley_bson_size(), alignment: parley_bson_alignment())
            defer { reply.deallocate() }
            let replyDocument = OpaquePointer(reply)
            var error = bson_error_t()
            let ok = mongoc_client_command_simple(client, database, document, nil, replyDocument, &error)
            // The reply is initialised whatever the outcome, and owns memory until destroyed.
            defer { bson_destroy(replyDocument) }
            guard ok else { throw MongoError(&error) }
            return try BSONDocument(driverDocument: replyDocument)
        }
    }

    /// The documents of `collection` matching `filter`, every batch of the driver's cursor (which
    /// keeps the session and the server of the first batch for the following ones).
    public func find(
        _ collection: String,
        filter: BSONDocument = [:],
        sort: BSONDocument? = nil,
        projection: BSONDocument? = nil,
        limit: Int? = nil
    ) throws -> [BSONDocument] {
        var options = BSONDocument()
        if let sort { options["sort"] = .document(sort) }
        if let projection { options["projection"] = .document(projection) }
        if let limit {
            guard limit > 0 else { return [] }
            options["limit"] = .int64(Int64(limit))
        }
        return try withCollection(collection) { handle in
            try withDriverDocument(filter) { filter in
                try withDriverDocument(options) { options in
                    try drain(mongoc_collection_find_with_opts(handle, filter, options, nil))
                }
            }
        }
    }

    /// The results of an aggregation pipeline on `collection`.
    public func aggregate(_ collection: String, pipeline: [BSONDocument]) throws -> [BSONDocument] {
        try withCollection(collection) { handle in
            try withDriverDocument(["pipeline": .array(pipeline.map { .document($0) })]) { pipeline in
                try drain(mongoc_collection_aggregate(handle, MONGOC_QUERY_NONE, pipeline, nil, nil))
            }
        }
    }

    /// How many documents of `collection` match `filter`.
    public func count(_ collection: String, filter: BSONDocument = [:]) throws -> Int {
        let reply = try runCommand(["count": .string(collection), "query": .document(filter)])
        return reply["n"]?.intValue ?? 0
    }

    /// A command document may be at most 16 MiB: inserts go in commands of at most this much.
    static let maximumInsertBytes = 8 * 1024 * 1024
    static let maximumInsertCount = 10_000

    /// Inserts documents; with `ordered: false` the server goes on after a failed one. Large
    /// batches are sent as several commands, and the result adds them up.
    ///
    /// Writes use libmongoc's collection helpers, which apply the URI's write concern and retry
    /// once after a failover on a replica set (retryable writes).
    public func insert(_ collection: String, _ documents: [BSONDocument], ordered: Bool = true) throws
        -> MongoWriteResult
    {
        var total = MongoWriteResult()
        let encoded = documents.map(\.bytes)
        for chunk in Self.chunks(of: encoded) {
            var result = try write(collection) { handle, reply, error in
                try withDriverDocuments(encoded[chunk]) { pointers in
                    try withDriverDocument(["ordered": .bool(ordered)]) { options in
                        mongoc_collection_insert_many(handle, pointers, chunk.count, options, reply, error)
                    }
                }
            }
            if !ordered {
                // Every document is either inserted or has its write error (some servers that
                // speak the protocol count the failed ones too).
                result.count = chunk.count - result.writeErrors.count
            }
            total.count += result.count
            total.writeErrors += result.writeErrors.map { error in
                var error = error
                error.index += chunk.lowerBound
                return error
            }
            if ordered, !result.writeErrors.isEmpty { break }
        }
        return total
    }

    /// Consecutive ranges of documents whose encoded sizes fit one command.
    static func chunks(of encoded: [[UInt8]]) -> [Range<Int>] {
        var chunks: [Range<Int>] = []
        var start = 0
        var bytes = 0
        for (index, document) in encoded.enumerated() {
            if index > start, bytes + document.count > maximumInsertBytes || index - start >= maximumInsertCount {
                chunks.append(start..<index)
                start = index
                bytes = 0
            }
            bytes += document.count
        }
        if start < encoded.count { chunks.append(start..<encoded.count) }
        return chunks
    }

    /// Applies `update` to the first (or, with `multi`, every) document matching `filter`.
    /// - Throws: the first write error (a duplicate key…), or ``MongoError``.
    @discardableResult
    public func update(
        _ collection: String, filter: BSONDocument, update: BSONDocument, multi: Bool = false, upsert: Bool = false
    ) throws -> MongoWriteResult {
        let result = try write(collection) { handle, reply, error in
            try withDriverDocument(filter) { filter in
                try withDriverDocument(update) { update in
                    try withDriverDocument(["upsert": .bool(upsert)]) { options in
                        multi
                            ? mongoc_collection_update_many(handle, filter, update, options, reply, error)
                            : mongoc_collection_update_one(handle, filter, update, options, reply, error)
                    }
                }
            }
        }
        if let error = result.writeErrors.first { throw error }
        return result
    }

    /// Deletes the first (or, with `multi`, every) document matching `filter`.
    @discardableResult
    public func delete(_ collection: String, filter: BSONDocument, multi: Bool = false) throws -> MongoWriteResult {
        let result = try write(collection) { handle, reply, error in
            try withDriverDocument(filter) { filter in
                multi
                    ? mongoc_collection_delete_many(handle, filter, nil, reply, error)
                    : mongoc_collection_delete_one(handle, filter, nil, reply, error)
            }
        }
        if let error = result.writeErrors.first { throw error }
        return result
    }

    /// Updates the first document matching `filter` and returns it as it was before, or after
    /// with `returnNew`; `nil` when none matched.
    public func findAndModify(
        _ collection: String, filter: BSONDocument, update: BSONDocument, returnNew: Bool, upsert: Bool = false
    ) throws -> BSONDocument? {
        guard let options = mongoc_find_and_modify_opts_new() else {
            throw MongoError(domain: MONGOC_ERROR_CLIENT.rawValue, code: 0, message: "out of memory")
        }
        defer { mongoc_find_and_modify_opts_destroy(options) }
        var flags = MONGOC_FIND_AND_MODIFY_NONE.rawValue
        if returnNew { flags |= MONGOC_FIND_AND_MODIFY_RETURN_NEW.rawValue }
        if upsert { flags |= MONGOC_FIND_AND_MODIFY_UPSERT.rawValue }
        _ = mongoc_find_and_modify_opts_set_flags(options, mongoc_find_and_modify_flags_t(rawValue: flags))
        try withDriverDocument(update) { update in
            _ = mongoc_find_and_modify_opts_set_update(options, update)
        }
        let reply = try withCollection(collection) { handle in
            try withDriverDocument(filter) { filter in
                try withReply { reply, error in
                    mongoc_collection_find_and_modify_with_opts(handle, filter, options, reply, error)
                }
            }
        }
        return reply["value"]?.documentValue
    }

    /// Runs a write helper and reads its reply: write errors (a duplicate key) are in the result,
    /// anything else (no server, a write concern error) is thrown.
    private func write(
        _ collection: String,
        _ body: (OpaquePointer, OpaquePointer, UnsafeMutablePointer<bson_error_t>) throws -> Bool
    ) throws -> MongoWriteResult {
        try withCollection(collection) { handle in
            let reply = try withReply(keepingWriteErrors: true) { reply, error in try body(handle, reply, error) }
            return try MongoWriteResult(reply: reply)
        }
    }

    /// Calls a driver function that fills a reply and an error; throws the error when it fails,
    /// unless `keepingWriteErrors` and the reply lists write errors (the caller reads them).
    private func withReply(
        keepingWriteErrors: Bool = false,
        _ body: (OpaquePointer, UnsafeMutablePointer<bson_error_t>) throws -> Bool
    ) throws -> BSONDocument {
        let storage = UnsafeMutableRawPointer.allocate(
            byteCount: parley_bson_size(), alignment: parley_bson_alignment())
        defer { storage.deallocate() }
        let reply = OpaquePointer(storage)
        bson_init(reply)
        defer { bson_destroy(reply) }
        var error = bson_error_t()
        let ok = try body(reply, &error)
        let document = try BSONDocument(driverDocument: reply)
        guard ok || (keepingWriteErrors && document["writeErrors"] != nil) else { throw MongoError(&error) }
        return document
    }

    /// Reads every document of a driver cursor, then destroys it.
    private func drain(_ cursor: OpaquePointer?) throws -> [BSONDocument] {
        guard let cursor else {
            throw MongoError(domain: MONGOC_ERROR_CURSOR.rawValue, code: 0, message: "no cursor")
        }
        defer { mongoc_cursor_destroy(cursor) }
        var documents: [BSONDocument] = []
        var next: OpaquePointer?
        while mongoc_cursor_next(cursor, &next), let next {
            documents.append(try BSONDocument(driverDocument: next))
        }
        var error = bson_error_t()
        if mongoc_cursor_error(cursor, &error) { throw MongoError(&error) }
        return documents
    }

    private func withCollection<Result>(_ name: String, _ body: (OpaquePointer) throws -> Result) throws -> Result {
        guard let collection = mongoc_client_get_collection(client, database, name) else {
            throw MongoError(domain: MONGOC_ERROR_CLIENT.rawValue, code: 0, message: "no collection \(name)")
        }
        defer { mongoc_collection_destroy(collection) }
        return try body(collection)
    }
}

/// Runs `body` with `document` as a driver `bson_t`, destroyed afterwards.
func withDriverDocument<Result>(_ document: BSONDocument, _ body: (OpaquePointer) throws -> Result) throws -> Result {
    let bytes = document.bytes
    let driverDocument = bytes.withUnsafeBufferPointer { bson_new_from_data($0.baseAddress, $0.count) }
    guard let driverDocument else {
        throw MongoError(domain: MONGOC_ERROR_BSON.rawValue, code: 0, message: "could not build a BSON document")
    }
    defer { bson_destroy(driverDocument) }
    return try body(driverDocument)
}

extension BSONDocument {
    /// Reads a driver `bson_t` (a reply) with libbson's iterator.
    init(driverDocument: OpaquePointer) throws(BSONError) {
        self = try BSONIterator.read(driverDocument: driverDocument)
    }
}

/// Runs `body` with driver copies of `documents` (as the `const bson_t **` the insert helpers take).
func withDriverDocuments<Result>(
    _ documents: ArraySlice<[UInt8]>,
    _ body: (UnsafeMutablePointer<OpaquePointer?>) throws -> Result
) throws -> Result {
    var pointers: [OpaquePointer?] = []
    pointers.reserveCapacity(documents.count)
    defer { for pointer in pointers { bson_destroy(pointer) } }
    for bytes in documents {
        guard let document = bytes.withUnsafeBufferPointer({ bson_new_from_data($0.baseAddress, $0.count) }) else {
            throw MongoError(domain: MONGOC_ERROR_BSON.rawValue, code: 0, message: "could not build a BSON document")
        }
        pointers.append(document)
    }
    return try pointers.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
}
#endif
