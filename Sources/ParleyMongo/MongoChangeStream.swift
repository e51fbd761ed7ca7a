// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import CMongoC

/// A change stream on one collection, through the driver's own change stream (which keeps the
/// cursor's session and server, and resumes once by itself after a transient error), with the
/// client it was opened on, held for the stream's whole life.
///
/// Not thread-safe: use it only on the pool's dedicated thread
/// (``MongoConnectionPool/onDedicatedThread(_:)``), then ``close()`` it there.
final class MongoChangeStream: @unchecked Sendable {
    private let pool: MongoConnectionPool
    private let client: OpaquePointer
    private let collection: OpaquePointer
    private let stream: OpaquePointer

    /// Opens a stream of the changes to `collection` that pass `pipeline`, after `resumeToken`
    /// (from now when `nil`); `next()` waits up to `maximumWait` for a change.
    init(
        pool: MongoConnectionPool,
        collection name: String,
        pipeline: [BSONDocument],
        resumeAfter resumeToken: BSON?,
        maximumWait: Duration
    ) throws {
        let client = try pool.popClient()
        guard let collection = mongoc_client_get_collection(client, pool.connectionString.database, name) else {
            pool.pushClient(client)
            throw MongoError(domain: MONGOC_ERROR_CLIENT.rawValue, code: 0, message: "no collection \(name)")
        }
        var options: BSONDocument = [
            "maxAwaitTimeMS": .int64(maximumWait.milliseconds),
            "batchSize": 1000,
        ]
        if let resumeToken { options["resumeAfter"] = resumeToken }
        let opened = try withDriverDocument(["pipeline": .array(pipeline.map { .document($0) })]) { pipeline in
            try withDriverDocument(options) { options in mongoc_collection_watch(collection, pipeline, options) }
        }
        guard let opened else {
            mongoc_collection_destroy(collection)
            pool.pushClient(client)
            throw MongoError(domain: MONGOC_ERROR_CLIENT.rawValue, code: 0, message: "could not open a change stream")
        }
        self.pool = pool
        self.client = client
        self.collection = collection
        self.stream = opened
        // Opening runs the aggregate: its failure (no replica set, no such collection…) shows here.
        if let error = self.error() {
            close()
            throw error
        }
    }

    /// The next change, or `nil` when none came within the maximum wait.
    func next() throws -> BSONDocument? {
        var change: OpaquePointer?
        if mongoc_change_stream_next(stream, &change), let change {
            return try BSONDocument(driverDocument: change)
        }
        if let error = error() { throw error }
        return nil
    }

    /// Where the stream is: what a new stream resumes after.
    var resumeToken: BSON? {
        guard let token = mongoc_change_stream_get_resume_token(stream) else { return nil }
        return (try? BSONDocument(driverDocument: token)).map { .document($0) }
    }

    func close() {
        mongoc_change_stream_destroy(stream)
        mongoc_collection_destroy(collection)
        pool.pushClient(client)
    }

    private func error() -> MongoError? {
        var error = bson_error_t()
        var reply: OpaquePointer?
        guard mongoc_change_stream_error_document(stream, &error, &reply) else { return nil }
        return MongoError(&error)
    }
}
#endif
