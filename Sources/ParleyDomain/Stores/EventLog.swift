/// An event a store keeps so that a client that lost its connection can be sent what it missed
/// (connection-state recovery): a new message, an edit, a deletion or a read receipt, at its
/// position in the history of the users who hear it.
///
/// For each user, positions grow in the order events were committed, which is the order the bus
/// delivers them in: an event a user hears after another has a larger position. Different users'
/// positions interleave, and are not dense.
public struct StoredEvent: Sendable, Hashable {
    public var event: ClusterEvent
    public var position: Int64

    public init(event: ClusterEvent, position: Int64) {
        self.event = event
        self.position = position
    }

    /// When it happened, by the clock of the instance that made it.
    public var time: Timestamp? {
        switch event {
        case .messageCreated(let message): message.createdAt
        case .messageUpdated(let message), .messageDeleted(let message): message.updatedAt
        case .messagesRead(let receipt): receipt.readAt
        case .groupMessageCreated(let message): message.createdAt
        case .groupMessageUpdated(let message), .groupMessageDeleted(let message): message.updatedAt
        case .groupRead(let receipt): receipt.readAt
        case .groupChanged(let notice): notice.at
        default: nil
        }
    }

    /// ``hearers(of:)`` for the events a bus keeps as it publishes them: changes to stored
    /// messages. New messages are kept by the store that inserts them (the message is its own
    /// record), so they are `nil` here like everything else.
    public static func changeHearers(of event: ClusterEvent) -> [ObjectID]? {
        switch event {
        case .messageCreated, .groupMessageCreated: return nil
        default: return hearers(of: event)
        }
    }

    /// The users whose history keeps `event` (a change to stored messages: its sender and
    /// receiver, or the reader and the one read; for a group's events, the group, whose history
    /// every member reads); `nil` for an event no store keeps.
    public static func hearers(of event: ClusterEvent) -> [ObjectID]? {
        switch event {
        case .messageCreated(let message), .messageUpdated(let message), .messageDeleted(let message):
            [message.senderID, message.receiverID]
        case .messagesRead(let receipt): [receipt.by, receipt.with]
        case .groupMessageCreated(let message), .groupMessageUpdated(let message), .groupMessageDeleted(let message):
            [message.groupID]
        case .groupRead(let receipt): [receipt.groupID]
        // Users it removed hear it in their own history: they are no longer in the group's.
        case .groupChanged(let notice): [notice.group.id] + notice.removed
        default: nil
        }
    }

    /// Whether `event` is kept in a group's history: its ``hearers(of:)`` start with the group's
    /// id, which stores use as the key of the group's history, and every member hears it.
    public static func isGroupEvent(_ event: ClusterEvent) -> Bool {
        switch event {
        case .groupMessageCreated, .groupMessageUpdated, .groupMessageDeleted, .groupRead, .groupChanged: true
        default: false
        }
    }
}

/// A store's history of each user's ``StoredEvent``s, read by any instance: a client that comes
/// back, to whichever instance, after the one it was on died too, is sent what it missed.
///
/// New messages come from the messages themselves, as they are now (edited text, tombstones);
/// edits, deletions and read receipts as they were announced, for as long as the store keeps
/// them (two days, longer than any recovery window).
public protocol EventLog: Sendable {
    /// The position of the last event `user` heard, 0 when none: every event committed after
    /// this call that `user` hears has a larger one.
    func latestPosition(of user: ObjectID) async throws -> Int64

    /// The events `user` heard after `position`, in order of position, at most `limit`; `nil`
    /// when some after `position` may have been forgotten already.
    func events(of user: ObjectID, after position: Int64, limit: Int) async throws -> [StoredEvent]?
}
