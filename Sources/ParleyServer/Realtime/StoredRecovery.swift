import Logging
import ParleyChat
import ParleyDomain
import SocketIO

/// Connection-state recovery served from the store (``EventLog``): a client that lost its
/// connection recovers on any instance, after the instance it was on died too, and is sent every
/// stored event it missed (`new-message`, `message-updated`, `message-deleted`,
/// `messages-read`), in order, once, before anything new.
///
/// Nothing is kept per session: the `pid` names the socket and its user, signed
/// (``RecoverySessionID``), and an offset is a position in that user's history. Stored events
/// carry their position as offset (``RealtimeDelivery``); `online-users`, which every socket gets
/// as it connects, carries a mark (``RecoveryMarks``), so a client has an offset from its first
/// moment. Presence changes and typing are not replayed: a recovered socket gets a fresh
/// `online-users`.
///
/// A client cannot recover when an event it missed is older than the recovery window, or when it
/// missed more than ``replayLimit`` events or half of ``replayBudget`` bytes: it connects anew
/// and catches up over REST.
struct StoredRecovery: SocketRecoveryStore {
    /// Most events replayed to one socket.
    static let replayLimit = 10_000
    /// Most bytes of events replayed to one socket: what a socket's send buffer holds
    /// (`EngineConfiguration.maxBufferedBytes`). Beyond it the replay, written at once, filled
    /// the buffer and the socket was closed, to come back and try again; and every recovery
    /// held its up to 10,000 events at once (9,000 messages of 5 KB were 180 MB for one, and
    /// twenty at once took the server to 715 MB).
    static let replayBudget = EngineConfiguration().maxBufferedBytes
    /// Events read at a time, so that one that goes over the budget stops the reading early.
    static let replayPage = 250

    let log: any EventLog
    let signer: RecoverySessionID.Signer
    let window: Duration
    let sent: SentMessages
    let marks: RecoveryMarks
    /// The groups a user is in now: a recovered socket is back in their rooms before it is sent
    /// what it missed, so nothing of a group falls between the replay and the live events.
    let groupsOf: @Sendable (ObjectID) async throws -> [Group]
    /// Where a store that fails a recovery is reported: the client connects anew without it
    /// (the Socket.IO module takes a failing store as one that does not know the session).
    let logger: Logger

    func record(_ broadcast: SocketBroadcast, in namespace: String) -> String? {
        // Stored events come with their position; nothing else is replayed.
        nil
    }

    func sessionID(for socket: Socket) -> String {
        signer.sessionID(for: socket)
    }

    func persist(_ session: RecoverableSession) async {
        // The pid and the store hold everything.
    }

    func restore(pid: String, offset: String, namespace: String) async throws -> RecoverableSession? {
        guard namespace == "/", let id = signer.decode(pid), let position = Int64(offset), position >= 0 else {
            return nil
        }
        do {
            return try await restore(id, after: position, pid: pid)
        } catch {
            logger.warning(
                "A session could not be recovered: the store failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    private func restore(_ id: RecoverySessionID, after position: Int64, pid: String) async throws
        -> RecoverableSession?
    {
        let namespace = "/"
        // Not when away too long (the first event it missed is older than the window, or already
        // forgotten), nor when what it missed is more than a replay takes: decided here, where
        // the client can still be told (it is given a new sid and pid). Once restored, its pid
        // would be the one it had, and a client told it recovered would not catch up over REST.
        // Half the budget here, so that what arrives before the replay reads again fits in it.
        let windowMilliseconds = window.milliseconds
        let now = Timestamp.now()
        guard
            let missed = try await missedEvents(
                of: id.user, after: position, limit: Self.replayLimit, budget: Self.replayBudget / 2,
                refusingFirst: { first in first.time.map { now.milliseconds(since: $0) > windowMilliseconds } ?? false }
            )
        else { return nil }
        // Nor from ahead of anything the user heard (a forged offset, or one from before a
        // database was restored): the socket would be sent nothing until positions passed it.
        if missed.isEmpty, try await position > log.latestPosition(of: id.user) { return nil }
        var data = SocketData()
        data[RecoveredUser.self] = id.user
        // Back in its user's room and its groups' before it is asked what it missed: nothing
        // falls between.
        let groups = try await groupsOf(id.user).map { RealtimeRooms.group($0.id) }
        return RecoverableSession(
            sid: id.sid, pid: pid, namespace: namespace, rooms: Set([RealtimeRooms.user(id.user)] + groups), data: data)
    }

    func missedPackets(of session: RecoverableSession, after offset: String) async throws -> [[SocketValue]]? {
        guard let user = session.data[RecoveredUser.self], let position = Int64(offset) else { return nil }
        // ``restore(pid:offset:namespace:)`` checked the limits at half of these; what came since
        // may take it past them. (Refused here, the client keeps its pid and is not told: the
        // margins make that need more than 2 MiB or 10,000 events within those moments.)
        let read: [StoredEvent]?
        do {
            read = try await missedEvents(
                of: user, after: position, limit: 2 * Self.replayLimit, budget: Self.replayBudget)
        } catch {
            logger.warning(
                "A recovered session's missed events could not be read: the client is told it was not recovered",
                metadata: ["error": "\(error)"])
            throw error
        }
        guard let events = read else { return nil }
        // The database can be ahead of the bus: what this read had (and what the client had
        // before) must not come again when the bus brings it here.
        marks.replayed(session.sid, of: user, upTo: max(position, events.last?.position ?? 0))
        return events.compactMap { stored in
            // The socket that sent a message had its acknowledgement instead.
            if case .messageCreated(let message) = stored.event, sent.sender(of: message.id) == session.sid {
                return nil
            }
            if case .groupMessageCreated(let message) = stored.event, sent.sender(of: message.id) == session.sid {
                return nil
            }
            guard let broadcast = RealtimeDelivery.broadcast(of: stored.event) else { return nil }
            return [.string(broadcast.name)] + broadcast.arguments + [.string(String(stored.position))]
        }
    }
}

extension StoredRecovery {
    /// What `user` heard after `position`, read a page at a time; `nil` past `limit` events or
    /// `budget` bytes, when some may have been forgotten, or when `refusingFirst` refuses the
    /// first (checked before a second page is read).
    func missedEvents(
        of user: ObjectID, after position: Int64, limit: Int, budget: Int,
        refusingFirst: (StoredEvent) -> Bool = { _ in false }
    ) async throws -> [StoredEvent]? {
        var events: [StoredEvent] = []
        var bytes = 0
        var after = position
        while true {
            guard let page = try await log.events(of: user, after: after, limit: Self.replayPage) else { return nil }
            if events.isEmpty, let first = page.first, refusingFirst(first) { return nil }
            events += page
            bytes += page.reduce(0) { $0 + Self.approximateSize(of: $1.event) }
            guard events.count <= limit, bytes <= budget else { return nil }
            guard page.count == Self.replayPage, let last = page.last else { return events }
            after = last.position
        }
    }

    /// How many bytes `event` takes as JSON, as the bus writes it: what its packet carries, escapes
    /// included (a text of control characters takes six times its length).
    static func approximateSize(of event: ClusterEvent) -> Int {
        event.encoded().utf8.count
    }
}

/// The user a recovered socket's pid names: the authenticator refuses the socket unless its
/// token is that user's.
enum RecoveredUser: SocketDataKey {
    typealias Value = ObjectID
}

/// What the realtime layer shares with ``StoredRecovery``.
struct StoredRecoveryParts: Sendable {
    let log: any EventLog
    let marks: RecoveryMarks
    let barrier: BusBarrier
}
