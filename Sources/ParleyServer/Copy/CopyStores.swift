import Foundation
import Logging
import ParleyChat
import ParleyDomain
import ParleyPostgres
import ParleySQLite
import ServiceLifecycle

#if MongoDB
import ParleyMongo
#endif

/// The two stores of a `parley copy`, opened the way a copy needs them: the source read-only and
/// left as it is, the target with its schema brought up to date (unless it is a dry run).
public struct CopyStores: Sendable {
    public let source: any ChatStore & ChatImporter
    public let target: any ChatStore & ChatImporter

    /// Runs `body` with both stores open and their connections running, and closes them after.
    public static func withStores<Result: Sendable>(
        from: StoreLocation,
        to: StoreLocation,
        migrateTarget: Bool,
        logger: Logger,
        _ body: @Sendable (CopyStores) async throws -> Result
    ) async throws -> Result {
        guard !from.isSame(as: to) else {
            throw ConfigurationError(key: "--to", "is the same store as --from")
        }
        #if !MongoDB
        for (location, option) in [(from, "--from"), (to, "--to")] {
            if case .mongodb = location {
                throw ConfigurationError(
                    key: option, "this build has no MongoDB support; build with `swift build --traits MongoDB`")
            }
        }
        #endif
        let source = try await open(from, option: "--from", readOnly: true, creating: false, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            for service in source.servicesForMigration {
                group.addTask { try await service.run() }
            }
            // Before the target is touched: a wrong --from must not leave an empty target behind.
            guard try await source.hasSchema() else {
                throw ConfigurationError(key: "--from", "\(source.displayName) has no Parley data (no schema)")
            }
            let target = try await open(to, option: "--to", readOnly: false, creating: migrateTarget, logger: logger)
            for service in target.servicesForMigration {
                group.addTask { try await service.run() }
            }
            if migrateTarget {
                try await target.migrate()
            }
            return try await body(CopyStores(source: source, target: target))
        }
    }

    /// - Parameter creating: whether a missing SQLite target may be created; a dry run looks at an
    ///   empty in-memory database instead, and leaves no file behind.
    private static func open(
        _ location: StoreLocation,
        option: String,
        readOnly: Bool,
        creating: Bool,
        logger: Logger
    ) async throws -> any ChatStore & ChatImporter {
        switch location {
        case .sqlite(let path):
            if !readOnly, !creating, !FileManager.default.fileExists(atPath: path) {
                return try await SQLiteStore.open(path: ":memory:", logger: logger)
            }
            if !readOnly {
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            do {
                return try await SQLiteStore.open(path: path, readOnly: readOnly, logger: logger)
            } catch let error as SQLiteStoreError {
                throw ConfigurationError(key: option, "\(error)")
            }
        case .postgres(let url):
            // Bulk batches take longer than API calls: a generous deadline per batch.
            return PostgresStore(url: url, maximumConnections: 4, operationTimeout: .seconds(120), logger: logger)
        case .mongodb(let uri, _):
            #if MongoDB
            do {
                return try MongoStore(MongoConnectionString(uri), size: 4, logger: logger)
            } catch {
                throw ConfigurationError(key: option, "cannot be used: \(error.message)")
            }
            #else
            throw ConfigurationError(key: option, "this build has no MongoDB support")
            #endif
        }
    }
}
