import SQLiteNIO
import Synchronization

/// Read-only connections to the store's file, each running one query at a time.
///
/// SQLite keeps a connection's read transaction, and so its snapshot of the database, open while
/// any of its statements is running. One connection shared by overlapping reads therefore never
/// saw later commits while reads kept coming: under sixteen clients, a user who had just signed up
/// could not log in. Here every query has a connection to itself and starts a read transaction
/// of its own, so it sees everything committed before it began; WAL mode lets these readers run
/// beside the writer.
final class SQLiteReaderPool: Sendable {
    private struct State {
        var idle: [SQLiteConnection]
        var waiting: [CheckedContinuation<SQLiteConnection, Never>] = []
    }

    /// Every connection, idle or not (to close them).
    let connections: [SQLiteConnection]
    private let state: Mutex<State>

    init(_ connections: [SQLiteConnection]) {
        precondition(!connections.isEmpty, "a reader pool needs a connection")
        self.connections = connections
        self.state = Mutex(State(idle: connections))
    }

    /// Runs `body` with a connection no other query is using.
    func withConnection<Result: Sendable>(
        _ body: (SQLiteConnection) async throws -> Result
    ) async throws -> Result {
        let connection = await acquire()
        defer { release(connection) }
        return try await body(connection)
    }

    private func acquire() async -> SQLiteConnection {
        if let connection = state.withLock({ $0.idle.popLast() }) { return connection }
        return await withCheckedContinuation { (continuation: CheckedContinuation<SQLiteConnection, Never>) in
            let connection = state.withLock { state -> SQLiteConnection? in
                if let connection = state.idle.popLast() { return connection }
                state.waiting.append(continuation)
                return nil
            }
            if let connection { continuation.resume(returning: connection) }
        }
    }

    private func release(_ connection: SQLiteConnection) {
        let next = state.withLock { state -> CheckedContinuation<SQLiteConnection, Never>? in
            guard !state.waiting.isEmpty else {
                state.idle.append(connection)
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume(returning: connection)
    }
}
