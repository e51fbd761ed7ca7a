import ParleyDomain

/// The paging parameters of a conversation or a group's history (raw client input), read with
/// one set of rules and messages for both: `before`/`after` ids, `updatedAfter` (an ISO-8601
/// time, never with `before`; with `after`, the last message of the previous page of changes)
/// and `limit` (1…``ConversationQuery/maximumLimit``).
struct PageRequest {
    var before: ObjectID?
    var after: ObjectID?
    var updatedAfter: Timestamp?
    var limit = ConversationQuery.defaultLimit

    init(before: String?, after: String?, updatedAfter: String?, limit: String?) throws {
        self.before = try before.map { try Validation.id($0, field: "before") }
        self.after = try after.map { try Validation.id($0, field: "after") }
        if let updatedAfter {
            guard before == nil else {
                throw ParleyError.invalidField("updatedAfter", "updatedAfter cannot be combined with before")
            }
            guard let time = Timestamp(iso8601: updatedAfter) else {
                throw ParleyError.invalidField(
                    "updatedAfter", "updatedAfter must be an ISO-8601 time like 2024-05-01T12:34:56.789Z")
            }
            self.updatedAfter = time
        }
        if let limit {
            guard let value = Int(limit), (1...ConversationQuery.maximumLimit).contains(value) else {
                throw ParleyError.invalidField(
                    "limit", "limit must be an integer from 1 to \(ConversationQuery.maximumLimit)")
            }
            self.limit = value
        }
    }
}
