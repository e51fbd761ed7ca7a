/// Persistence of users. One implementation per database; all pass the same contract tests.
public protocol UserRepository: Sendable {
    /// Stores a new user.
    /// - Throws: ``StoreError/duplicateEmail`` when a user with that email exists.
    func insertUser(_ record: UserRecord) async throws

    func user(id: ObjectID) async throws -> UserRecord?

    /// Looks a user up by their normalised (trimmed, lower-cased) email.
    func user(email: String) async throws -> UserRecord?

    /// Applies `changes` and sets `updatedAt`, atomically.
    /// - Returns: the record before and after the change, or `nil` when there is no such user.
    func updateUser(id: ObjectID, changes: UserChanges, at time: Timestamp) async throws -> UserUpdate?

    /// Every user except `id` and deleted ones, ordered by name (then id), for the contact list.
    func users(excluding id: ObjectID) async throws -> [User]

    /// The records of those of `ids` that exist (deleted ones as tombstones), in no order: a
    /// group's members by name.
    func users(ids: [ObjectID]) async throws -> [UserRecord]

    /// Every token of `user` issued at or before `time` stops being valid ("log out everywhere").
    /// A later revocation already recorded stays.
    /// - Returns: whether there is such a user.
    func revokeSessions(of user: ObjectID, upTo time: Timestamp) async throws -> Bool

    /// Deletes the account: the record becomes ``UserRecord/tombstone(at:)`` (its messages stay,
    /// from a user with no name, avatar or email; the email is free again).
    /// - Returns: the record as it was (its avatar is to be deleted), or `nil` when there is no
    ///   such user or it was deleted already.
    func deleteUser(id: ObjectID, at time: Timestamp) async throws -> UserRecord?
}

/// A user record before and after an update; the old one tells which avatar to delete.
public struct UserUpdate: Sendable, Hashable {
    public var previous: UserRecord
    public var updated: UserRecord

    public init(previous: UserRecord, updated: UserRecord) {
        self.previous = previous
        self.updated = updated
    }
}

extension UserRepository {
    /// One lookup per id; stores override it with one query.
    public func users(ids: [ObjectID]) async throws -> [UserRecord] {
        var records: [UserRecord] = []
        for id in Set(ids) {
            if let record = try await user(id: id) { records.append(record) }
        }
        return records
    }
}
