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
    /// to `user` (see ``positions(of:)``).
    func mark(for user: ObjectID, stored: Int64, _ emit: (Int64) -> Void) {
        state.withLock { state in
            let mark = max(stored, state.last(user) ?? 0)
            state.record(mark, for: user)
            emit(mark)
        }
    }

    /// The last position delivered here to each of `users` (an event or a mark), `nil` for a
    /// user this instance does not remember: what their sockets have heard up to now.
    func positions(of users: some Sequence<ObjectID>) -> [ObjectID: Int64?] {
        state.withLock { state in
            var positions: [ObjectID: Int64?] = [:]
            for user in users { positions[user] = state.last(user) }
            return positions
        }
    }
}
