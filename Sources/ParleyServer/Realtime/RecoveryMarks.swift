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
        /// Gaps being looked into (``follow(_:)``), usually none.
        var gaps: [GapState] = []
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

    /// A gap being looked into: what its users had heard, the first position delivered to each
    /// since, and who is not decided yet.
    private struct GapState {
        let id: UInt64
        let heard: [ObjectID: Int64?]
        var first: [ObjectID: Int64] = [:]
        var undecided: Set<ObjectID>
    }

    private let state = Mutex(State())

    /// A stored event at `position` goes to `users`' devices: `emit` sends it, except to the
    /// sockets named (recovered ones whose replay already had it), and without its offset to the
    /// devices of the users named second (those a gap has not decided about yet, see
    /// ``follow(_:)``).
    func delivered(
        _ position: Int64, to users: [ObjectID], _ emit: (_ except: [String], _ undecided: [ObjectID]) -> Void
    ) {
        state.withLock { state in
            var except: [String] = []
            var undecided: [ObjectID] = []
            for user in users {
                state.record(position, for: user)
                for index in state.gaps.indices where state.gaps[index].undecided.contains(user) {
                    if !undecided.contains(user) { undecided.append(user) }
                    // Only what is newer than the gap: a new LISTEN may be handed notifications
                    // this instance had before it.
                    guard state.gaps[index].first[user] == nil,
                        position > (state.gaps[index].heard[user].flatMap { $0 } ?? .min)
                    else { continue }
                    state.gaps[index].first[user] = position
                }
                guard var sockets = state.replayed[user] else { continue }
                for (socket, upTo) in sockets {
                    // Positions reach a user in order: once one passes the replay, the bus has
                    // caught up with it for good.
                    if upTo >= position { except.append(socket) } else { sockets[socket] = nil }
                }
                state.replayed[user] = sockets.isEmpty ? nil : sockets
            }
            emit(except, undecided)
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
    ///
    /// Until a user is decided about (``decided(_:in:)``), stored events reach their devices
    /// without an offset: a client keeps the offset it had, so should it turn out to have missed
    /// something, its recovery from that offset loses nothing (it may get those events twice).
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
            state.gaps.append(GapState(id: state.nextGap, heard: heard, undecided: Set(heard.keys)))
            return Gap(id: state.nextGap, at: .now, heard: heard)
        }
    }

    /// The first position delivered to `user` since `gap` was taken (and newer than it), if any.
    func firstDelivered(to user: ObjectID, since gap: Gap) -> Int64? {
        state.withLock { state in state.gaps.first { $0.id == gap.id }?.first[user] }
    }

    /// `user` has been decided about in `gap` (their sockets stay, or were closed): stored
    /// events carry their offset to them again.
    func decided(_ user: ObjectID, in gap: Gap) {
        state.withLock { state in
            guard let index = state.gaps.firstIndex(where: { $0.id == gap.id }) else { return }
            state.gaps[index].undecided.remove(user)
        }
    }

    func stopFollowing(_ gap: Gap) {
        state.withLock { state in state.gaps.removeAll { $0.id == gap.id } }
    }
}
