import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Connection-state recovery from the database (migration 0009): new messages by their `seq`,
/// changes from `parley_changes`, merged by position.
extension PostgresStore: EventLog {
    public var eventLog: (any EventLog)? { self }

    public func latestPosition(of user: ObjectID) async throws -> Int64 {
        try await perform { client in
            try await client.withConnection { connection in
                try await connection.rows(
                    of: PostgresRecoveryStatements.LatestPosition(user: user.hexString), logger: self.logger
                ).first ?? 0
            }
        }
    }

    public func events(of user: ObjectID, after position: Int64, limit: Int) async throws -> [StoredEvent]? {
        try await perform { client in
            // One snapshot for every read: an event committed between two of them would be
            // missed by the first and passed over by the second's later positions.
            try await client.withTransaction(logger: self.logger) { client in
                try await client.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: self.logger)
                let purged = try await client.rows(of: PostgresRecoveryStatements.PurgedThrough(), logger: self.logger)
                for through in purged where position < through { return nil }
                let rows = try await client.rows(
                    of: PostgresRecoveryStatements.EventsAfter(
                        user: user.hexString, position: position, limit: Int64(limit)),
                    logger: self.logger)
                var events: [StoredEvent] = []
                for row in rows {
                    if let payload = row.1 {
                        var ignored: Int64?
                        guard let event = ClusterEvent(encoded: payload, position: &ignored) else {
                            throw CorruptRow(column: "parley_changes.payload")
                        }
                        events.append(StoredEvent(event: event, position: row.0))
                    } else {
                        guard let id = row.2, let sender = row.3, let receiver = row.4, let created = row.8,
                            let updated = row.9
                        else { throw CorruptRow(column: "messages") }
                        let message = try Self.message(
                            (id, sender, receiver, row.5, row.6, row.7, created, updated, row.10, row.11, row.12))
                        events.append(StoredEvent(event: .messageCreated(message), position: row.0))
                    }
                }
                // The messages of the user's groups (a group's whole history is its members').
                let grouped = try await client.rows(
                    of: PostgresRecoveryStatements.GroupMessagesAfter(
                        user: user.hexString, position: position, limit: Int64(limit)),
                    logger: self.logger)
                var messages: [(position: Int64, message: GroupMessage)] = []
                for row in grouped { messages.append((row.0, try Self.groupMessage(row))) }
                if !messages.isEmpty {
                    events += messages.map {
                        StoredEvent(event: .groupMessageCreated($0.message), position: $0.position)
                    }
                    events.sort { $0.position < $1.position }
                    if events.count > limit { events.removeLast(events.count - limit) }
                }
                return events
            }
        }
    }
}
