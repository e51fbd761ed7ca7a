import Logging
import PostgresNIO

// A statement that returns rows (`SELECT some_function(…)`) answers `query` as soon as its row
// description arrives, before it has run: its errors, and the fact that it finished, only show
// when the rows are read. These run a statement for its effect and return once it has finished.

extension PostgresClient {
    /// Runs `query` to its end; throws what the database answered.
    func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}

extension PostgresConnection {
    /// Runs `query` to its end; throws what the database answered.
    func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}
