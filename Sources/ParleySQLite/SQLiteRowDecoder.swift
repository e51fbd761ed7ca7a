import ParleyDomain
import SQLiteNIO

/// Reads typed columns from a row; a column of the wrong type is a corrupt row, not a crash.
struct SQLiteRowDecoder {
    struct CorruptRow: Error, CustomStringConvertible {
        let column: String
        var description: String { "column \(column) has an unexpected value" }
    }

    let row: SQLiteRow

    init(_ row: SQLiteRow) { self.row = row }

    func text(_ column: String) throws -> String {
        guard case .text(let value) = row.column(column) else { throw CorruptRow(column: column) }
        return value
    }

    func optionalText(_ column: String) -> String? {
        guard case .text(let value) = row.column(column) else { return nil }
        return value
    }

    func id(_ column: String) throws -> ObjectID {
        guard let id = ObjectID(try text(column)) else { throw CorruptRow(column: column) }
        return id
    }

    func timestamp(_ column: String) throws -> Timestamp {
        guard case .integer(let value) = row.column(column) else { throw CorruptRow(column: column) }
        return Timestamp(millisecondsSince1970: Int64(value))
    }

    /// `nil` for NULL; a value of another type is a corrupt row.
    func optionalTimestamp(_ column: String) throws -> Timestamp? {
        switch row.column(column) {
        case .integer(let value): return Timestamp(millisecondsSince1970: Int64(value))
        case .null, nil: return nil
        default: throw CorruptRow(column: column)
        }
    }
}
