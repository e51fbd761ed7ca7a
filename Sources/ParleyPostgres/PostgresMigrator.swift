import Crypto
import Logging
import PostgresNIO

/// Applies ``PostgresSchema/migrations`` that a database has not seen yet, in order, recording
/// each in `parley_schema_migrations`.
///
/// A session advisory lock makes concurrent runs (two instances starting together) take turns;
/// the second finds nothing left to do. Each migration runs in its own transaction. A migration
/// whose file changed after it was applied stops startup rather than leave the schema unknown.
struct PostgresMigrator {
    /// Arbitrary, fixed: identifies Parley's migration lock among other advisory locks.
    static let lockKey: Int64 = 0x7061_726C_6579  // "parley"

    struct ChangedMigration: Error, CustomStringConvertible {
        let name: String
        var description: String {
            "migration \(name) was changed after it was applied to this database; restore the original file"
        }
    }

    let client: PostgresClient
    let logger: Logger

    /// - Returns: the names of the migrations applied by this call.
    @discardableResult
    func migrate(_ migrations: [PostgresSchema.Migration] = PostgresSchema.migrations) async throws -> [String] {
        try await client.withConnection { connection in
            // Waiting for another instance's migrations, and a migration itself (an index built
            // over a large table), may take longer than the store's `statement_timeout`.
            try await connection.run("SET statement_timeout = 0", logger: logger)
            do {
                try await connection.run("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
                let applied = try await apply(migrations, on: connection)
                try await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                try await connection.run("RESET statement_timeout", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                _ = try? await connection.query("RESET statement_timeout", logger: logger)
                throw error
            }
        }
    }

    private func apply(_ migrations: [PostgresSchema.Migration], on connection: PostgresConnection) async throws
        -> [String]
    {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS parley_schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            logger: logger
        )
        var recorded: [Int: String] = [:]
        for try await (version, checksum) in try await connection.query(
            "SELECT version, checksum FROM parley_schema_migrations",
            logger: logger
        ).decode((Int, String).self) {
            recorded[version] = checksum
        }
        var applied: [String] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            let checksum = Self.checksum(migration.sql)
            if let existing = recorded[migration.version] {
                guard existing == checksum else { throw ChangedMigration(name: migration.name) }
                continue
            }
            try await connection.withTransaction(logger: logger) { transaction in
                for statement in SQLScript.statements(in: migration.sql) {
                    try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await transaction.query(
                    """
                    INSERT INTO parley_schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(checksum))
                    """,
                    logger: logger
                )
            }
            logger.info("Applied schema migration", metadata: ["migration": "\(migration.name)"])
            applied.append(migration.name)
        }
        return applied
    }

    static func checksum(_ sql: String) -> String {
        SHA256.hash(data: Array(sql.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
