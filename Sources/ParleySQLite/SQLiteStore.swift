import Foundation
import Logging
import NIOCore
import NIOPosix
import ParleyDomain
import SQLiteNIO
import ServiceLifecycle

/// The embedded store: one SQLite file, for a single server instance.
///
/// Writes go through one connection in order (``SQLiteWriteQueue``); reads use read-only
/// connections, one query at a time each (``SQLiteReaderPool``), which WAL mode lets run
/// alongside writes.
public final class SQLiteStore: ChatStore {
    public let path: String
    let writer: SQLiteConnection
    let readers: SQLiteReaderPool
    let writes = SQLiteWriteQueue()
    let logger: Logger
    let events = InProcessBus()
    public let presence: any PresenceBackend

    /// This process's subscribers; changes to stored messages are kept in the file first
    /// (``SQLiteEventBus``).
    public var bus: any ClusterBus { SQLiteEventBus(store: self) }

    /// One SQLite file serves one process.
    public var supportsClustering: Bool { false }

    /// Read connections: as many as the thread pool that runs SQLite's calls can use at once.
    static let readerCount = max(2, System.coreCount)

    private init(path: String, writer: SQLiteConnection, readers: [SQLiteConnection], logger: Logger) {
        self.path = path
        self.writer = writer
        self.readers = SQLiteReaderPool(readers)
        self.logger = logger
        self.presence = InProcessPresence(bus: events)
    }

    /// Opens (creating if needed) the database file at `path`.
    /// - Parameters:
    ///   - readOnly: opens an existing file without changing anything in it (the source of
    ///     `parley copy`, which a running server may be writing to): a missing file throws
    ///     ``SQLiteStoreError/noSuchFile(_:)`` and every write fails.
    ///   - threadPool: where SQLite's blocking calls run.
    public static func open(
        path: String,
        readOnly: Bool = false,
        threadPool: NIOThreadPool = .singleton,
        logger: Logger
    ) async throws -> SQLiteStore {
        if readOnly {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { throw SQLiteStoreError.noSuchFile(path) }
        }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        let writer = try await SQLiteConnection.open(
            storage: .file(path: path),
            threadPool: threadPool,
            logger: logger,
            on: eventLoop
        )
        do {
            let pragmas =
                readOnly
                ? ["PRAGMA query_only = ON"]
                : ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON"]
            for pragma in pragmas {
                _ = try await writer.query(pragma)
            }
            var readers: [SQLiteConnection] = []
            do {
                for _ in 0..<readerCount {
                    let reader = try await SQLiteConnection.open(
                        storage: .file(path: path),
                        threadPool: threadPool,
                        logger: logger,
                        on: eventLoop
                    )
                    readers.append(reader)
                    _ = try await reader.query("PRAGMA query_only = ON")
                }
            } catch {
                for reader in readers { try? await reader.close() }
                throw error
            }
            return SQLiteStore(path: path, writer: writer, readers: readers, logger: logger)
        } catch {
            try? await writer.close()
            throw error
        }
    }

    public var displayName: String { "SQLite at \(path)" }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await writes.run(on: writer)
        } onGracefulShutdown: {
            self.writes.finish()
        }
        // The future-returning close: it runs even when this task was cancelled (a command that
        // cancels its services when done), where the async one would give up and leak the file.
        for reader in readers.connections { try await reader.close().get() }
        try await writer.close().get()
    }

    public func migrate() async throws {
        try await writes.perform { connection in
            let current = try await connection.query("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
            for (index, statements) in SQLiteSchema.migrations.enumerated() where index + 1 > current {
                _ = try await connection.query("BEGIN IMMEDIATE")
                do {
                    for statement in statements {
                        _ = try await connection.query(statement)
                    }
                    _ = try await connection.query("PRAGMA user_version = \(index + 1)")
                    _ = try await connection.query("COMMIT")
                } catch {
                    _ = try? await connection.query("ROLLBACK")
                    throw error
                }
            }
        }
    }

    public func checkReadiness() async throws {
        _ = try await read("SELECT 1")
    }

    /// Runs a read on a connection of its own (see ``SQLiteReaderPool``).
    func read(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        try await readers.withConnection { try await $0.query(sql, binds) }
    }

    /// Runs a write job as one transaction: all of it or, when it throws, none of it.
    func writeTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (SQLiteConnection) async throws -> Result
    ) async throws -> Result {
        try await write { connection in try await Self.inTransaction(connection, body) }
    }

    /// Runs `body` on the writer connection (inside a write job) as one transaction.
    static func inTransaction<Result: Sendable>(
        _ connection: SQLiteConnection, _ body: (SQLiteConnection) async throws -> Result
    ) async throws -> Result {
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            let result = try await body(connection)
            _ = try await connection.query("COMMIT")
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }

    /// Runs a write job and maps constraint failures to ``StoreError``.
    func write<Result: Sendable>(
        _ body: @escaping @Sendable (SQLiteConnection) async throws -> Result
    ) async throws -> Result {
        do {
            return try await writes.perform(body)
        } catch let error as SQLiteError
            where error.reason == .constraintUniqueFailed && error.message.contains("email")
        {
            throw StoreError.duplicateEmail
        } catch let error as SQLiteError where error.reason == .constraintForeignKeyFailed {
            throw StoreError.unknownUser
        }
    }
}

/// Why an SQLite store cannot be opened.
public enum SQLiteStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A file that must exist (a copy's source) does not.
    case noSuchFile(String)

    public var description: String {
        switch self {
        case .noSuchFile(let path): "no SQLite database at \(path)"
        }
    }
}
