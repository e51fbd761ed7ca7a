// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import CMongoC

/// A checked `mongodb://` or `mongodb+srv://` URI: what Parley connects to.
///
/// Parsing uses the driver's own parser, so an error names exactly what it rejects. Timeouts the
/// URI leaves unset get values that suit a web server (a request fails with 503 after a few
/// seconds instead of waiting 30 s for a server that is down).
public struct MongoConnectionString: Sendable, Hashable, CustomStringConvertible {
    /// The URI as given, credentials included: never log it.
    let uri: String
    /// The database from the URI's path, or `test`, which is where Mongoose puts data when the URI
    /// names none (so a Node app's existing data is found).
    public let database: String
    /// Where it points, without credentials, for logs.
    public let displayName: String

    static let defaultDatabase = "test"

    /// Timeouts applied unless the URI sets them.
    static let defaultOptions: [(String, Int32)] = [
        (MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5_000),
        (MONGOC_URI_CONNECTTIMEOUTMS, 5_000),
        (MONGOC_URI_SOCKETTIMEOUTMS, 30_000),
    ]

    public init(_ string: String) throws(MongoError) {
        MongoDriver.initialize()
        var error = bson_error_t()
        guard let parsed = mongoc_uri_new_with_error(string, &error) else { throw MongoError(&error) }
        defer { mongoc_uri_destroy(parsed) }
        self.uri = string
        let database = mongoc_uri_get_database(parsed).map { String(cString: $0) } ?? ""
        self.database = database.isEmpty ? Self.defaultDatabase : database
        self.displayName = Self.displayName(of: parsed, database: self.database)
    }

    public var description: String { displayName }

    /// A driver URI with Parley's default timeouts; the caller destroys it.
    func makeURI() throws(MongoError) -> OpaquePointer {
        var error = bson_error_t()
        guard let parsed = mongoc_uri_new_with_error(uri, &error) else { throw MongoError(&error) }
        for (option, value) in Self.defaultOptions where !mongoc_uri_has_option(parsed, option) {
            mongoc_uri_set_option_as_int32(parsed, option, value)
        }
        return parsed
    }

    /// `scheme://hosts/database`, without user, password or options, from the driver's parse
    /// (a password may contain characters that fool a textual cut).
    static func displayName(of uri: OpaquePointer, database: String) -> String {
        if let srv = mongoc_uri_get_srv_hostname(uri) {
            return "mongodb+srv://\(String(cString: srv))/\(database)"
        }
        var hosts: [String] = []
        var host = mongoc_uri_get_hosts(uri)
        while let current = host {
            hosts.append(String(cString: parley_host_and_port(current)))
            host = parley_host_next(current)
        }
        return "mongodb://\(hosts.joined(separator: ","))/\(database)"
    }
}
#endif
