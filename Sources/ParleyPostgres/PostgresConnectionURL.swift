import NIOSSL
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A `postgres://` URL (libpq's form) turned into a client configuration.
///
/// Understood: `postgres://` or `postgresql://`, user, password (percent-encoded), host, port,
/// database, and the query parameters `sslmode` (`disable`, `allow`, `prefer` (default),
/// `require`, `verify-ca`, `verify-full`) and `host` (a Unix socket directory), as libpq reads them.
public struct PostgresConnectionURL: Sendable {
    public struct Invalid: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    public let configuration: PostgresClient.Configuration
    /// Where the database is, without credentials, for logs.
    public let displayName: String

    public init(_ string: String) throws {
        guard let components = URLComponents(string: string),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else {
            throw Invalid(reason: "expected postgres://user:password@host:port/database")
        }
        guard let user = components.user, !user.isEmpty else {
            throw Invalid(reason: "the URL names no user (postgres://user@host/database)")
        }
        let password = components.password
        var database = components.path
        if database.hasPrefix("/") { database.removeFirst() }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { _, last in last }
        )
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw Invalid(reason: "port \(port) is out of range") }
        let tls = try Self.tls(sslmode: query["sslmode"] ?? "prefer")

        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            configuration = PostgresClient.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)",
                username: user,
                password: password,
                database: database.isEmpty ? nil : database
            )
            displayName = "PostgreSQL at \(socketDirectory):\(port)/\(database)"
        } else {
            guard let host = components.host, !host.isEmpty else {
                throw Invalid(reason: "the URL names no host (postgres://user@host/database)")
            }
            configuration = PostgresClient.Configuration(
                host: host,
                port: port,
                username: user,
                password: password,
                database: database.isEmpty ? nil : database,
                tls: tls
            )
            displayName = "PostgreSQL at \(host):\(port)/\(database)"
        }
    }

    private static func tls(sslmode: String) throws -> PostgresClient.Configuration.TLS {
        var unverified = TLSConfiguration.makeClientConfiguration()
        unverified.certificateVerification = .none
        switch sslmode {
        case "disable":
            return .disable
        case "allow", "prefer":
            return .prefer(unverified)
        case "require":
            return .require(unverified)
        case "verify-ca":
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .noHostnameVerification
            return .require(configuration)
        case "verify-full":
            return .require(TLSConfiguration.makeClientConfiguration())
        default:
            throw Invalid(
                reason: "sslmode \(sslmode) is not one of disable, allow, prefer, require, verify-ca, verify-full")
        }
    }
}
