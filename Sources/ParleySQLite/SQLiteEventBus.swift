import ParleyDomain
import SQLiteNIO

/// The SQLite store's bus: this process's subscribers (``InProcessBus``), with changes to stored
/// messages (edits, deletions, read receipts) kept in the file first, each at a position drawn
/// from the messages' own sequence, inside the write queue, so they reach subscribers in the
/// order of their positions, interleaved rightly with new messages.
struct SQLiteEventBus: ClusterBus {
    let store: SQLiteStore

    func publish(_ event: ClusterEvent) async throws {
        guard let users = StoredEvent.changeHearers(of: event) else {
            if case .barrier = event {
                // Through the write queue: every write queued before it has delivered its event.
                try await store.write { [events = store.events] _ in events.deliver(event) }
            } else {
                store.events.deliver(event)
            }
            return
        }
        try await store.write { [events = store.events] connection in
            // One transaction, and the event delivered inside the write queue once it is
            // committed: in order with every other write.
            let position = try await SQLiteStore.inTransaction(connection) { connection in
                try await SQLiteStore.logChange(event, for: users, on: connection)
            }
            events.deliver(.stored(StoredEvent(event: event, position: Int64(position))))
        }
    }

    func subscribe() -> AsyncStream<BusDelivery> {
        store.events.subscribe()
    }

    func subscribe(_ handler: @escaping @Sendable (BusDelivery) -> Void) -> BusSubscription {
        store.events.subscribe(handler)
    }

}

extension SQLiteStore {
    /// Keeps `event` for each of `users` (or groups) at the next position, inside the caller's
    /// transaction of a write job; the caller delivers it once that commits.
    /// - Returns: its position.
    static func logChange(_ event: ClusterEvent, for users: [ObjectID], on connection: SQLiteConnection) async throws
        -> Int
    {
        let payload = event.encoded()
        let now = Int(Timestamp.now().millisecondsSince1970)
        let position = try await nextPosition(connection)
        for user in Set(users) {
            _ = try await connection.query(
                "INSERT INTO changes (user_id, position, payload, created_at) VALUES (?, ?, ?, ?)",
                [.text(user.hexString), .integer(position), .text(payload), .integer(now)])
        }
        if position % 100 == 0 {
            // Changes older than two days (longer than any recovery window) are forgotten, and the
            // last position forgotten is kept.
            let cutoff = SQLiteData.integer(now - 2 * 86_400_000)
            _ = try await connection.query(
                """
                UPDATE changes_purged SET through = max(through, coalesce(
                    (SELECT max(position) FROM changes WHERE created_at < ?), 0))
                """, [cutoff])
            _ = try await connection.query("DELETE FROM changes WHERE created_at < ?", [cutoff])
        }
        return position
    }
}
