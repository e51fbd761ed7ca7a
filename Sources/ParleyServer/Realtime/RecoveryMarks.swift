import ParleyDomain
import Synchronization

/// What this instance knows of each user's position, so that offsets never mislead a client:
/// the last position delivered to each user (a mark handed out with `online-users` is never
/// behind an event the socket already had), and, for sockets just recovered, the last position
/// their replay covered (a stored event the bus brings here only after the replay read it from
/// the database is not sent to them again).
///
/// Delivering a stored event and handing out a mark are each one step under one lock, with the
/// emission in it: whichever comes second sees the first.
final class RecoveryMarks: Sendable {
    /// Users remembered per generation; past it the older generation is forgotten (a mark then
    /// comes from the store and the barrier alone, which is still right).
    static let generation = 50_000

    private struct State {
        var latest: [ObjectID: Int64] = [:]
        var older: [ObjectID: Int64] = [:]
        /// By user, the recovered sockets and the position their replay reached.
        var replayed: [ObjectID: [String: Int64]] = [:]
        /// Gaps being looked into (``follow(_:)``), each with the first position delivered to
        /// each of its users since.
        var gaps: [UInt64: (users: Set<ObjectID>, first: [ObjectID: Int64])] = [:]
        var nextGap: UInt64 = 0

        func last(_ user: ObjectID) -> Int64? { latest[user] ?? older[user] }

        mutating func record(_ position: Int64, for user: ObjectID) {
            if latest[user] == nil, latest.count >= RecoveryMarks.generation {
                older = latest
                latest = [:]
            }
            latest[user] = max(last(user) ?? 0, position)
        }
    }

    private let state = Mutex(State())

    /// A stored event at `position` goes to `users`' devices: `emit` sends it, except to the
    /// sockets named (recovered ones whose replay already had it).
    func delivered(_ position: Int64, to users: [ObjectID], _ emit: (_ except: [String]) -> Void) {
        state.withLock { state in
            var except: [String] = []
            for user in users {
                state.record(position, for: user)
                for (id, gap) in state.gaps where gap.first[user] == nil && gap.users.contains(user) {
                    state.gaps[id]?.first[user] = position
                }
                guard var sockets = state.replayed[user] else { continue }
                for (socket, upTo) in sockets {
                    // Positions reach a user in order: once one passes the replay, the bus has
                    // caught up with it for good.
                    if upTo >= position { except.append(socket) } else { sockets[socket] = nil }
                }
                state.replayed[user] = sockets.isEmpty ? nil : sockets
            }
            emit(except)
        }
    }

    /// `socket` of `user` was recovered with every stored event up to `position`.
    func replayed(_ socket: String, of user: ObjectID, upTo position: Int64) {
        state.withLock { $0.replayed[user, default: [:]][socket] = position }
    }

    /// `socket` of `user` is gone.
    func forget(_ socket: String, of user: ObjectID) {
        state.withLock { state in
            state.replayed[user]?[socket] = nil
            if state.replayed[user]?.isEmpty == true { state.replayed[user] = nil }
        }
    }

    /// The mark for a socket of `user`, given the store's latest position for them (read before
    /// a barrier came back, so the bus has delivered it): `emit` sends it. It counts as delivered
    /// to `user` (see ``follow(_:)``).
    func mark(for user: ObjectID, stored: Int64, _ emit: (Int64) -> Void) {
        state.withLock { state in
            let mark = max(stored, state.last(user) ?? 0)
            state.record(mark, for: user)
            emit(mark)
        }
    }

    /// What the bus lost can only be told apart from what it brought afterwards by position:
    /// the events a user missed are those the store has after what they had been delivered here
    /// when the loss was noticed, and before the first delivered to them since.
    struct Gap: Sendable {
        let id: UInt64
        /// When the loss was noticed: a socket that connected since read what it has from the
        /// store with the bus back.
        let at: ContinuousClock.Instant
        /// For each user, the last position delivered here (an event or a mark) when the loss
        /// was noticed; `nil` for one this instance does not remember.
        let heard: [ObjectID: Int64?]
    }

    /// Takes what `users` had been delivered here, and from now on notes the first position
    /// delivered to each, until ``stopFollowing(_:)``.
    func follow(_ users: some Sequence<ObjectID>) -> Gap {
        state.withLock { state in
            var heard: [ObjectID: Int64?] = [:]
            for user in users { heard[user] = state.last(user) }
            defer { state.nextGap += 1 }
            state.gaps[state.nextGap] = (Set(heard.keys), [:])
            return Gap(id: state.nextGap, at: .now, heard: heard)
        }
    }

    /// The first position delivered to `user` since `gap` was taken, if any.
    func firstDelivered(to user: ObjectID, since gap: Gap) -> Int64? {
        state.withLock { $0.gaps[gap.id]?.first[user] }
    }

    func stopFollowing(_ gap: Gap) {
        _ = state.withLock { $0.gaps.removeValue(forKey: gap.id) }
    }
}
