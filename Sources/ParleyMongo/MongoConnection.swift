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
        let reply = UnsafeMutableRawPointer.allocate(byteCount: parley_bson_size(), alignment: parley_bson_alignment())
        defer { reply.deallocate() }
        let replyDocument = OpaquePointer(reply)
        var error = bson_error_t()
        let bytes = command.bytes
        let ok = bytes.withUnsafeBufferPointer { buffer -> Bool in
            guard let document = bson_new_from_data(buffer.baseAddress, buffer.count) else { return false }
            defer { bson_destroy(document) }
            return mongoc_client_command_simple(client, database, document, nil, replyDocument, &error)
        }
        // The reply is initialised in every case, and owns memory until destroyed.
        defer { bson_destroy(replyDocument) }
        guard ok else { throw MongoError(&error) }
        let length = Int(parley_bson_length(replyDocument))
        return try BSONDocument(bytes: UnsafeBufferPointer(start: bson_get_data(replyDocument), count: length))
    }

    /// The documents of `collection` matching `filter`, every batch of the cursor.
    public func find(
        _ collection: String,
        filter: BSONDocument = [:],
        sort: BSONDocument? = nil,
        projection: BSONDocument? = nil,
        limit: Int? = nil
    ) throws -> [BSONDocument] {
        var command: BSONDocument = ["find": .string(collection), "filter": .document(filter)]
        if let sort { command["sort"] = .document(sort) }
        if let projection { command["projection"] = .document(projection) }
        if let limit {
            guard limit > 0 else { return [] }
            command["limit"] = .int64(Int64(limit))
        }
        return try drain(runCommand(command), collection: collection)
    }

    /// The results of an aggregation pipeline on `collection`.
    public func aggregate(_ collection: String, pipeline: [BSONDocument]) throws -> [BSONDocument] {
        let command: BSONDocument = [
            "aggregate": .string(collection), "pipeline": .array(pipeline.map { .document($0) }), "cursor": [:],
        ]
        return try drain(runCommand(command), collection: collection)
    }

    /// How many documents of `collection` match `filter`.
    public func count(_ collection: String, filter: BSONDocument = [:]) throws -> Int {
        let reply = try runCommand(["count": .string(collection), "query": .document(filter)])
        return reply["n"]?.intValue ?? 0
    }

    /// Inserts documents; with `ordered: false` the server goes on after a failed one.
    public func insert(_ collection: String, _ documents: [BSONDocument], ordered: Bool = true) throws
        -> MongoWriteResult
    {
        guard !documents.isEmpty else { return try MongoWriteResult(reply: ["n": 0]) }
        var result = try MongoWriteResult(
            reply: runCommand([
                "insert": .string(collection), "documents": .array(documents.map { .document($0) }),
                "ordered": .bool(ordered),
            ])
        )
        if !ordered {
            // Every document is either inserted or has its write error (some servers that speak
            // the protocol count the failed ones in `n` too).
            result.count = documents.count - result.writeErrors.count
        }
        return result
    }

    /// Applies `update` to the first (or, with `multi`, every) document matching `filter`.
    public func update(_ collection: String, filter: BSONDocument, update: BSONDocument, multi: Bool = false) throws
        -> MongoWriteResult
    {
        let statement: BSONDocument = ["q": .document(filter), "u": .document(update), "multi": .bool(multi)]
        return try MongoWriteResult(
            reply: runCommand(["update": .string(collection), "updates": [.document(statement)]]))
    }

    /// Updates the first document matching `filter` and returns it as it was before, or after
    /// with `returnNew`; `nil` when none matched.
    public func findAndModify(_ collection: String, filter: BSONDocument, update: BSONDocument, returnNew: Bool) throws
        -> BSONDocument?
    {
        let reply = try runCommand([
            "findAndModify": .string(collection), "query": .document(filter), "update": .document(update),
            "new": .bool(returnNew),
        ])
        return reply["value"]?.documentValue
    }

    /// Collects a cursor reply's first batch and every following batch.
    private func drain(_ reply: BSONDocument, collection: String) throws -> [BSONDocument] {
        guard let cursor = reply["cursor"]?.documentValue else {
            throw MongoError(domain: MONGOC_ERROR_CURSOR.rawValue, code: 0, message: "reply without a cursor")
        }
        var documents = (cursor["firstBatch"]?.arrayValue ?? []).compactMap(\.documentValue)
        var id = cursor["id"]
        while let current = id, current.intValue != 0, !current.isNull {
            let next = try runCommand(["getMore": current, "collection": .string(collection)])
            guard let batch = next["cursor"]?.documentValue else { break }
            documents += (batch["nextBatch"]?.arrayValue ?? []).compactMap(\.documentValue)
            id = batch["id"]
        }
        return documents
    }
}
#endif
