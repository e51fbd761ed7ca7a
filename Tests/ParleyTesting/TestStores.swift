import Foundation
import Logging
import ParleyChat
import ParleyDomain
import ParleyPostgres
import ParleySQLite
import ParleyServer
import PostgresNIO
import ServiceLifecycle
import Testing

#if MongoDB
@testable import ParleyMongo
#endif

/// The stores a test can run against. PostgreSQL joins when `PARLEY_TEST_DATABASE_URL` names a
/// server where the test user may create databases (the test command starts one); MongoDB when
/// the build has the MongoDB trait and `MONGODB_URI` names a server.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres
    case mongodb

    static var available: [StoreKind] {
        var kinds: [StoreKind] = [.sqlite]
        if TestPostgres.adminURL != nil { kinds.append(.postgres) }
        if TestMongo.uri != nil { kinds.append(.mongodb) }
        return kinds
    }

    var testDescription: String { rawValue }
}

/// A scratch directory for one test, removed afterwards.
struct ScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "parley-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

enum TestPostgres {
    static var adminURL: String? {
        ProcessInfo.processInfo.environment["PARLEY_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A new, migrated database of its own for one test, as a URL.
    static func freshDatabaseURL() async throws -> String {
        guard let admin = adminURL else { throw TestSkip(reason: "PARLEY_TEST_DATABASE_URL is not set") }
        let template = try await Template.shared.name()
        let name = "parley_test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        try await withAdminClient(admin) { client in
            try await client.query("CREATE DATABASE \(unescaped: name) TEMPLATE \(unescaped: template)")
        }
        return replacingDatabase(in: admin, with: name)
    }

    static func replacingDatabase(in url: String, with database: String) -> String {
        var components = URLComponents(string: url)!
        components.path = "/" + database
        return components.string!
    }

    @discardableResult
    static func withAdminClient<Result: Sendable>(
        _ url: String,
        _ body: @escaping @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: try PostgresConnectionURL(url).configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// One migrated database per test process; every test database is a copy of it.
    actor Template {
        static let shared = Template()
        private var creation: Task<String, any Error>?

        /// Created once, by the first caller; the others wait for that creation.
        func name() async throws -> String {
            if let creation { return try await creation.value }
            let creation = Task { try await Self.create() }
            self.creation = creation
            return try await creation.value
        }

        private static func create() async throws -> String {
            guard let admin = TestPostgres.adminURL else { throw TestSkip(reason: "no PostgreSQL") }
            let name =
                "parley_template_\(ProcessInfo.processInfo.processIdentifier)_\(UInt32.random(in: 0...UInt32.max))"
            try await withAdminClient(admin) { client in
                try await client.query("CREATE DATABASE \(unescaped: name)")
            }
            let store = PostgresStore(
                url: try PostgresConnectionURL(replacingDatabase(in: admin, with: name)),
                maximumConnections: 2,
                logger: .quiet
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in store.servicesForMigration { group.addTask { try await service.run() } }
                defer { group.cancelAll() }
                try await store.migrate()
            }
            return name
        }
    }
}

enum TestMongo {
    /// The server the MongoDB tests use; `nil` (tests skipped) without the MongoDB trait.
    static var uri: String? {
        #if MongoDB
        ProcessInfo.processInfo.environment["MONGODB_URI"].flatMap { $0.isEmpty ? nil : $0 }
        #else
        nil
        #endif
    }

    /// `MONGODB_URI` with a new database of its own for one test (MongoDB creates it on first
    /// write).
    static func freshDatabaseURI() throws -> String {
        guard let uri else { throw TestSkip(reason: "MONGODB_URI is not set") }
        return replacingDatabase(in: uri, with: "parley_test_\(UUID().uuidString.prefix(8).lowercased())")
    }

    static func replacingDatabase(in uri: String, with database: String) -> String {
        let (base, query) =
            uri.firstIndex(of: "?").map { (String(uri[..<$0]), String(uri[$0...])) } ?? (uri, "")
        let afterScheme = base.range(of: "://")!.upperBound
        let hosts = base[afterScheme...].prefix { $0 != "/" }
        return base[..<afterScheme] + hosts + "/" + database + query
    }
}

struct TestSkip: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// A configuration for a server under test: scratch data directory, fixed secret, the store kind.
func testConfiguration(_ kind: StoreKind, directory: ScratchDirectory, extra: [String: String] = [:]) async throws
    -> ParleyConfiguration
{
    var variables = [
        "DATA_DIR": directory.path,
        "JWT_SECRET": TestSecrets.jwt,
        "CORS_ORIGIN": "http://allowed.example",
        "BCRYPT_COST": "4",
        "LOG_LEVEL": "warning",
        "AUTH_RATE_LIMIT": "1000",
        "AUTH_EMAIL_RATE_LIMIT": "1000",
    ]
    switch kind {
    case .sqlite:
        variables["STORE"] = "sqlite"
    case .postgres:
        variables["DATABASE_URL"] = try await TestPostgres.freshDatabaseURL()
    case .mongodb:
        variables["MONGODB_URI"] = try TestMongo.freshDatabaseURI()
        variables["MONGODB_POOL_SIZE"] = "4"
    }
    variables.merge(extra) { _, new in new }
    return try ParleyConfiguration.from(variables: variables)
}

/// A MongoDB test database is dropped after its test (PostgreSQL's are dropped with the cluster).
func dropTestDatabase(of store: any ChatStore) async {
    #if MongoDB
    if let mongo = store as? MongoStore {
        _ = try? await mongo.call { try $0.runCommand(["dropDatabase": 1]) }
    }
    #endif
}

enum TestSecrets {
    static let jwt = "a-test-secret-that-is-long-enough-for-hs256"
}

/// Runs `body` with a running store of `kind` (migrated, fresh), then shuts it down.
func withStore<Result: Sendable>(
    _ kind: StoreKind,
    _ body: @escaping @Sendable (any ChatStore) async throws -> Result
) async throws -> Result {
    let directory = try ScratchDirectory()
    defer { directory.remove() }
    let configuration = try await testConfiguration(kind, directory: directory)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let store = try await ParleyApplication.makeStore(configuration, logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        let serviceGroup = ServiceGroup(services: store.services, logger: logger)
        group.addTask { try await serviceGroup.run() }
        do {
            try await store.migrate()
            let result = try await body(store)
            await dropTestDatabase(of: store)
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            await serviceGroup.triggerGracefulShutdown()
            throw error
        }
    }
}
