import Foundation
import ParleyPostgres

#if MongoDB
import ParleyMongo
#endif

/// Where `parley copy` reads or writes: a store named by a URL.
///
/// - `sqlite:path` (also `sqlite://relative/path` and `sqlite:///absolute/path`)
/// - `postgres://user:password@host:port/database` (or `postgresql://`)
/// - `mongodb://…` or `mongodb+srv://…`
public enum StoreLocation: Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresConnectionURL)
    /// The URI as given (credentials included: never print it) and where it points, for people.
    case mongodb(uri: String, displayName: String)

    /// - Parameter option: the command-line option the URL came from, for the error.
    public init(_ string: String, option: String) throws(ConfigurationError) {
        let trimmed = string.trimmingCharacters(in: .whitespaces)
        let scheme = trimmed.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        switch scheme {
        case "sqlite":
            var path = String(trimmed.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard !path.isEmpty else {
                throw ConfigurationError(key: option, "names no file (sqlite:data/parley.sqlite)")
            }
            self = .sqlite(path: path)
        case "postgres", "postgresql":
            do {
                self = .postgres(try PostgresConnectionURL(trimmed))
            } catch {
                throw ConfigurationError(key: option, "cannot be parsed: \(error)")
            }
        case "mongodb", "mongodb+srv":
            #if MongoDB
            do {
                self = .mongodb(uri: trimmed, displayName: try MongoConnectionString(trimmed).displayName)
            } catch {
                throw ConfigurationError(key: option, "cannot be parsed: \(error.message)")
            }
            #else
            self = .mongodb(uri: trimmed, displayName: "MongoDB")
            #endif
        default:
            throw ConfigurationError(
                key: option,
                "must be sqlite:path, postgres://user:password@host/database or mongodb://host/database"
            )
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "SQLite at \(path)"
        case .postgres(let url): url.displayName
        case .mongodb(_, let displayName): "MongoDB at \(displayName)"
        }
    }

    /// Whether two locations name the same database, as far as their URLs tell.
    func isSame(as other: StoreLocation) -> Bool {
        switch (self, other) {
        case (.sqlite(let a), .sqlite(let b)):
            URL(fileURLWithPath: a).standardizedFileURL.path == URL(fileURLWithPath: b).standardizedFileURL.path
        case (.postgres(let a), .postgres(let b)): a.displayName == b.displayName
        case (.mongodb(_, let a), .mongodb(_, let b)): a == b
        default: false
        }
    }
}
