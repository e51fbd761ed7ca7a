/// Who read which messages of a conversation, and when: the body of `messages-read`.
///
/// `by` read every message `with` sent them, stored up to and including `upTo`.
public struct ReadReceipt: Sendable, Hashable, Codable {
    public var by: ObjectID
    public var with: ObjectID
    public var upTo: ObjectID
    public var readAt: Timestamp

    public init(by: ObjectID, with: ObjectID, upTo: ObjectID, readAt: Timestamp) {
        self.by = by
        self.with = with
        self.upTo = upTo
        self.readAt = readAt
    }
}
