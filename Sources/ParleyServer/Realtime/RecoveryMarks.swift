import ParleyDomain
import Synchronization

/// The last position this instance delivered to each user, so that the offset a socket gets
/// with `online-users` (its mark) is never older than an event it already had.
///
/// A client keeps the offset of the last event it saw and recovers from it, so the mark must not
/// go back before a stored event delivered ahead of it. Delivering a stored event and handing
/// out a mark are each one step under one lock, with the emission in it: whichever comes second
/// sees the first.
final class RecoveryMarks: Sendable {
    /// Past this many users, the table starts afresh (a mark then comes from the store alone).
    static let capacity = 100_000

    private let latest = Mutex<[ObjectID: Int64]>([:])

    /// A stored event at `position` goes to `users`' devices: `emit` sends it.
    func delivered(_ position: Int64, to users: [ObjectID], _ emit: () -> Void) {
        latest.withLock { latest in
            if latest.count >= Self.capacity { latest.removeAll(keepingCapacity: true) }
            for user in users where latest[user, default: 0] < position { latest[user] = position }
            emit()
        }
    }

    /// The mark for a socket of `user`, given the store's latest position for them: `emit` sends
    /// it.
    func mark(for user: ObjectID, stored: Int64, _ emit: (Int64) -> Void) {
        latest.withLock { latest in emit(max(stored, latest[user] ?? 0)) }
    }
}
