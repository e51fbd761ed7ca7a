import NIOCore
import ParleyDomain
import PostgresNIO

/// A `timestamptz` parameter of exactly a ``Timestamp``'s millisecond.
///
/// postgres-nio sends a `Date` through floating-point seconds truncated to microseconds, so a
/// millisecond may arrive as the microsecond before it (`.122999` for `.123`). Rows are stored at
/// whole milliseconds, so such a time would wrongly count a row of that very millisecond as after
/// it (`updatedAfter` would return the message the client already has).
struct PostgresTimestamp: PostgresNonThrowingEncodable {
    let timestamp: Timestamp

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    /// Microseconds since 2000-01-01T00:00:00Z, PostgreSQL's epoch.
    func encode<JSONEncoder: PostgresJSONEncoder>(
        into buffer: inout ByteBuffer,
        context: PostgresEncodingContext<JSONEncoder>
    ) {
        buffer.writeInteger((timestamp.millisecondsSince1970 - 946_684_800_000) * 1000, as: Int64.self)
    }
}

extension Timestamp {
    /// This time as a query parameter (see ``PostgresTimestamp``).
    var postgres: PostgresTimestamp { PostgresTimestamp(timestamp: self) }
}
