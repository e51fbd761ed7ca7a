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
    public func insert(_ collection: String, _ documents: [BSONDocument], ordered: Bool = true) throws
        -> MongoWriteResult
    {
        var total = try MongoWriteResult(reply: ["n": 0])
        for chunk in Self.chunks(of: documents.map(\.bytes)) {
            var result = try MongoWriteResult(
                reply: runCommand([
                    "insert": .string(collection),
                    "documents": .array(chunk.map { .document(documents[$0]) }),
                    "ordered": .bool(ordered),
                ])
            )
            if !ordered {
                // Every document is either inserted or has its write error (some servers that
                // speak the protocol count the failed ones in `n` too).
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
    public func update(
        _ collection: String, filter: BSONDocument, update: BSONDocument, multi: Bool = false, upsert: Bool = false
    ) throws -> MongoWriteResult {
        let statement: BSONDocument = [
            "q": .document(filter), "u": .document(update), "multi": .bool(multi), "upsert": .bool(upsert),
        ]
        let result = try MongoWriteResult(
            reply: runCommand(["update": .string(collection), "updates": [.document(statement)]]))
        if let error = result.writeErrors.first { throw error }
        return result
    }

    /// Updates the first document matching `filter` and returns it as it was before, or after
    /// with `returnNew`; `nil` when none matched.
    public func findAndModify(
        _ collection: String, filter: BSONDocument, update: BSONDocument, returnNew: Bool, upsert: Bool = false
    ) throws -> BSONDocument? {
        let reply = try runCommand([
            "findAndModify": .string(collection), "query": .document(filter), "update": .document(update),
            "new": .bool(returnNew), "upsert": .bool(upsert),
        ])
        return reply["value"]?.documentValue
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
    /// Copies a driver `bson_t`.
    init(driverDocument: OpaquePointer) throws(BSONError) {
        let length = Int(parley_bson_length(driverDocument))
        try self.init(bytes: UnsafeBufferPointer(start: bson_get_data(driverDocument), count: length))
    }
}
#endif
