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
        let payload = event.encoded()
        let now = Int(Timestamp.now().millisecondsSince1970)
        try await store.write { [events = store.events] connection in
            // One transaction, and the event delivered inside the write queue once it is
            // committed: in order with every other write.
            let position = try await SQLiteStore.inTransaction(connection) { connection in
                let position = try await SQLiteStore.nextPosition(connection)
                for user in Set(users) {
                    _ = try await connection.query(
                        "INSERT INTO changes (user_id, position, payload, created_at) VALUES (?, ?, ?, ?)",
                        [.text(user.hexString), .integer(position), .text(payload), .integer(now)])
                }
                if position % 100 == 0 {
                    // Changes older than two days (longer than any recovery window) are forgotten,
                    // and the last position forgotten is kept.
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
