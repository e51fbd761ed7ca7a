/// The schema migrations: the numbered files in `sql/`, embedded in the binary in order.
///
/// A new file must be added here too; a test checks that this list and the directory agree.
enum PostgresSchema {
    struct Migration: Sendable {
        /// The number the file name starts with.
        let version: Int
        /// The file name.
        let name: String
        let sql: String
    }

    static let migrations: [Migration] = [
        migration("0001_users_and_messages.sql", PackageResources._001_users_and_messages_sql),
        migration("0002_realtime.sql", PackageResources._002_realtime_sql),
        migration("0003_read_edit_delete.sql", PackageResources._003_read_edit_delete_sql),
        migration("0004_conversation_summaries.sql", PackageResources._004_conversation_summaries_sql),
        migration("0005_batched_message_writes.sql", PackageResources._005_batched_message_writes_sql),
        migration("0006_summary_updates_in_place.sql", PackageResources._006_summary_updates_in_place_sql),
        migration(
            "0007_message_users_checked_per_statement.sql",
            PackageResources._007_message_users_checked_per_statement_sql
        ),
        migration(
            "0008_sessions_and_deleted_accounts.sql", PackageResources._008_sessions_and_deleted_accounts_sql),
        migration("0009_event_positions.sql", PackageResources._009_event_positions_sql),
        migration("0010_groups.sql", PackageResources._010_groups_sql),
        migration("0011_group_messages.sql", PackageResources._011_group_messages_sql),
        migration(
            "0012_messages_stored_in_one_round_trip.sql",
            PackageResources._012_messages_stored_in_one_round_trip_sql
        ),
        migration(
            "0013_message_batches_in_fewer_statements.sql",
            PackageResources._013_message_batches_in_fewer_statements_sql
        ),
        migration("0014_instances_removed_in_steps.sql", PackageResources._014_instances_removed_in_steps_sql),
    ]

    private static func migration(_ name: String, _ bytes: [UInt8]) -> Migration {
        guard let version = Int(name.prefix { $0.isNumber }) else {
            preconditionFailure("migration file \(name) must start with its number")
        }
        return Migration(version: version, name: name, sql: String(decoding: bytes, as: UTF8.self))
    }
}
