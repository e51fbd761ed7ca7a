import ParleyChat
import ParleyDomain
import SocketIO

/// Connection-state recovery for Parley's sockets: the SocketIO module's in-memory store, given
/// only the events a client must not miss.
///
/// Offsets go to the events of stored changes (`new-message`, `message-updated`,
/// `message-deleted`, `messages-read`), which are kept, and to `online-users`, which every socket
/// gets as it connects, so that a client has an offset from its first moment and can recover
/// from a blink before anything else reached it. That one is not kept: it holds every user
/// online (kept for every connection, 2,000 of them made a recovery buffer of 400 MB), and a
/// recovered socket gets a fresh one anyway. Typing and presence changes are not kept: a recovered socket
/// gets a fresh `online-users` instead, and old typing is noise.
///
/// For stores without an ``EventLog`` (MongoDB): a client recovers on the instance it was
/// connected to; on another one it connects anew (`recovered === false`) and catches up with
/// `GET /api/message/:userId?after=`. Stores with one use ``StoredRecovery``.
struct RecoverableEvents: SocketRecoveryStore {
    static let recorded: Set<String> = [
        "new-message", "message-updated", "message-deleted", "messages-read", "new-group-message",
        "group-message-updated", "group-message-deleted", "group-read", "group-changed",
    ]

    let memory: InMemoryRecoveryStore
    let signer: RecoverySessionID.Signer
    /// The groups a user is in now: a user removed while away is not sent the group's events
    /// after their removal (they get the removal itself, in their own room).
    let groupsOf: @Sendable (ObjectID) async throws -> [Group]

    /// Signed and naming the user, as ``StoredRecovery``'s: someone else's is refused.
    func sessionID(for socket: Socket) -> String {
        signer.sessionID(for: socket)
    }

    func record(_ broadcast: SocketBroadcast, in namespace: String) -> String? {
        if Self.recorded.contains(broadcast.event) { return memory.record(broadcast, in: namespace) }
        // Only its offset: the list is as long as the users online, and it is sent afresh anyway.
        if broadcast.event == "online-users" { return memory.mark(in: namespace) }
        return nil
    }

    func persist(_ session: RecoverableSession) async {
        await memory.persist(session)
    }

    func restore(pid: String, offset: String, namespace: String) async -> RecoverableSession? {
        await memory.restore(pid: pid, offset: offset, namespace: namespace)
    }

    func missedPackets(of session: RecoverableSession, after offset: String) async -> [[SocketValue]]? {
        // The session kept the rooms it had: its groups' now count instead (a group left while
        // away is not replayed; one joined while away is, from its `group-changed`).
        guard let user = session.data[SocketSession.self]?.userID,
            let groups = try? await groupsOf(user)
        else {
            // Unknown (the store did not answer): the client connects anew and catches up.
            return nil
        }
        var current = session
        current.rooms = session.rooms.filter { !RealtimeRooms.isGroup($0) }
        current.rooms.formUnion(groups.map { RealtimeRooms.group($0.id) })
        return await memory.missedPackets(of: current, after: offset)
    }
}
