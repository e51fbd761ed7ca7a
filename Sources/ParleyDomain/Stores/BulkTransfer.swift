/// A record read for copying, or the reason it cannot be copied (a document another application
/// wrote: no email, an id that is not an ObjectId, …).
public enum ExportedRecord<Record: Sendable>: Sendable {
    case valid(Record)
    /// `id` as the source has it, for the report.
    case invalid(id: String, reason: String)
}

extension ExportedRecord: Equatable where Record: Equatable {}

extension ExportedRecord {
    /// The record `decode` reads, or why it cannot: what an exporter makes of each stored row.
    public init(id: String, _ decode: () throws -> Record) {
        do {
            self = .valid(try decode())
        } catch {
            self = .invalid(id: id, reason: "\(error)")
        }
    }
}

/// Reads a whole store for `parley copy`, page by page, without changing it.
///
/// Pages are fetched after the last key of the previous page, so a copy can resume from any
/// record, and a server may keep writing to the store meanwhile (new records come later in the
/// order and are picked up by the next page or the next run).
public protocol ChatExporter: Sendable {
    /// Names the store and where it is (never a password).
    var displayName: String { get }

    /// Whether the store itself guarantees that every message's sender and receiver exist.
    var enforcesReferences: Bool { get }

    func countUsers() async throws -> Int
    func countMessages() async throws -> Int

    /// Users with ids greater than `after`, in id order.
    func exportUsers(after: ObjectID?, limit: Int) async throws -> [ExportedRecord<UserRecord>]

    /// The newest stored message such that every message stored before it has been committed:
    /// waits (a bounded time) for inserts in flight, so that a copy reading up to it never
    /// passes over a message a live server is still committing. `nil` when there are none.
    func settledLastMessageID() async throws -> ObjectID?

    /// Messages stored after message `after` and up to message `through`, in the order they were
    /// stored (which is the order conversations list them in). `nil` starts at the first; an id
    /// the store does not have throws ``StoreError/cursorNotFound``.
    func exportMessages(after: ObjectID?, through: ObjectID, limit: Int) async throws -> [ExportedRecord<Message>]

    /// Messages with ids greater than `after`, in id order: for checksums that must not depend
    /// on the order of storing.
    func messagesByID(after: ObjectID?, limit: Int) async throws -> [Message]

    /// The users with these ids (those the store has).
    func users(withIDs ids: [ObjectID]) async throws -> [ObjectID: UserRecord]

    /// Logged-out tokens not yet expired at `time`, with fingerprints greater than `after`, in
    /// fingerprint order: copied so that a token logged out before a move stays refused after it.
    /// None in a store from before revocations.
    func exportTokenRevocations(after: String?, unexpiredAt time: Timestamp, limit: Int) async throws
        -> [TokenRevocation]

    func countGroups() async throws -> Int
    func countGroupMessages() async throws -> Int

    /// Groups (closed ones too) with ids greater than `after`, in id order, each with its
    /// members and their read positions. A document another program wrote that cannot be read as
    /// a group is left out.
    func exportGroups(after: ObjectID?, limit: Int) async throws -> [ExportedGroup]

    /// Group messages stored after message `after` (`nil`: from the first), in the order they
    /// were stored.
    /// - Throws: ``StoreError/cursorNotFound`` for an id the store does not have.
    func exportGroupMessages(after: ObjectID?, limit: Int) async throws -> [GroupMessage]

    /// Group messages with ids greater than `after`, in id order (for checksums).
    func groupMessagesByID(after: ObjectID?, limit: Int) async throws -> [GroupMessage]
}

/// A group as `parley copy` carries it: the group, its members, their read positions.
public struct ExportedGroup: Sendable, Hashable {
    public var group: Group
    public var members: [GroupMember]
    public var reads: [GroupReadReceipt]

    public init(group: Group, members: [GroupMember], reads: [GroupReadReceipt]) {
        self.group = group
        self.members = members
        self.reads = reads
    }
}

/// Writes copied records into a store, keeping their ids and timestamps.
public protocol ChatImporter: ChatExporter {
    /// Inserts the users whose id the store does not have yet, in one transaction.
    /// - Returns: how many were inserted (the others were already there).
    /// - Throws: ``StoreError/duplicateEmail`` if one's email belongs to another id.
    func importUsers(_ users: [UserRecord]) async throws -> Int

    /// Inserts the messages whose id the store does not have yet, in order, in one transaction,
    /// without announcing them to connected clients.
    /// - Returns: how many were inserted.
    func importMessages(_ messages: [Message]) async throws -> Int

    /// Records these token revocations (those already recorded stay as they are).
    /// - Returns: how many were new.
    func importTokenRevocations(_ revocations: [TokenRevocation]) async throws -> Int

    /// Inserts the groups whose id the store does not have yet, with their members (not their
    /// read positions: those point at messages, copied after), in one transaction.
    /// - Returns: how many were inserted.
    func importGroups(_ groups: [ExportedGroup]) async throws -> Int

    /// Inserts the group messages whose id the store does not have yet, in order, in one
    /// transaction, without announcing them.
    /// - Returns: how many were inserted.
    func importGroupMessages(_ messages: [GroupMessage]) async throws -> Int

    /// Moves members' read positions forward to these (never back; positions of users who are
    /// not members, or at messages the store does not have, are left out).
    /// - Returns: how many moved.
    func importReadPositions(_ reads: [GroupReadReceipt]) async throws -> Int

    /// The ids of the users with these emails.
    func userIDs(withEmails emails: [String]) async throws -> [String: ObjectID]

    /// The message stored last, where an interrupted copy resumes.
    func lastStoredMessageID() async throws -> ObjectID?

    /// Whether the store's schema exists (a dry run does not create it).
    func hasSchema() async throws -> Bool

    /// Called once before the first batch of messages: a store may set aside what it rebuilds
    /// faster in one go afterwards (PostgreSQL drops the secondary indexes and foreign keys of an
    /// empty messages table). ``finishImport()`` puts everything back.
    func beginImport() async throws

    /// Brings what the store derives from messages (indexes, conversation summaries) up to date
    /// after imports, which may leave that to the end. Safe to call any time.
    func finishImport() async throws
}

extension ChatImporter {
    public func beginImport() async throws {}
    public func finishImport() async throws {}
}
