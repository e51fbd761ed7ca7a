import Logging
import NIOCore
import ParleyChat
import ParleyDomain
import SocketIO

/// What an authenticated socket does on this instance: it joins its user's and its token's rooms,
/// counts as a device for presence, ends when its token expires, gets `online-users`, and its
/// client events (`send-message`, `mark-read`, `typing`, `stop-typing`) are served within a
/// per-socket rate.
///
/// A class: every socket's handlers capture it. As a struct, each of the six held a copy of
/// everything below (the services' existentials, the settings, the logger): 3.6 KiB of resident
/// memory per authenticated connection (docs/benchmarks.md).
final class SocketEventHandlers: Sendable {
    let messages: MessageService
    let groups: GroupService
    let presence: PresenceService
    let bus: any ClusterBus
    let sent: SentMessages
    /// With recovery served by the store: its history, the marks handed out, and the barrier
    /// that makes a position read from it one the bus has delivered.
    let recovery: StoredRecoveryParts?
    let settings: RealtimeSettings
    let logger: Logger
    /// Every connecting socket's `online-users`, written once per change of presence.
    let onlineUsersList = OnlineUsersList()

    init(
        messages: MessageService, groups: GroupService, presence: PresenceService, bus: any ClusterBus,
        sent: SentMessages, recovery: StoredRecoveryParts?, settings: RealtimeSettings, logger: Logger
    ) {
        self.messages = messages
        self.groups = groups
        self.presence = presence
        self.bus = bus
        self.sent = sent
        self.recovery = recovery
        self.settings = settings
        self.logger = logger
    }

    func connected(_ socket: Socket) async {
        guard let session = socket[data: SocketSession.self] else {
            socket.disconnect()
            return
        }
        let user = session.userID
        socket.join(RealtimeRooms.user(user), RealtimeRooms.token(session.fingerprint))
        let gate = SocketFloodGate(rate: settings.eventRate, burst: settings.eventBurst)
        socket.setEventGate { _ in gate.decide() }
        // After the gate: events a client sends while its groups are read are counted too.
        await joinGroups([socket], of: user)

        // The socket ends when its token does.
        let remaining = session.expiresAt.milliseconds(since: .now())
        let expiry = socket.eventLoop.scheduleTask(in: .milliseconds(max(0, remaining))) {
            socket.disconnect()
        }
        socket.onDisconnect { [presence, recovery] _ in
            expiry.cancel()
            presence.deviceDisconnected(user)
            recovery?.marks.forget(socket.id, of: user)
        }

        presence.deviceConnected(user)
        let (version, online) = presence.onlineUsersVersioned()
        // Through the socket's own room, so that with connection-state recovery it carries an
        // offset: a mark in the user's history (``StoredRecovery``), or one the in-memory store
        // hands out (``RecoverableEvents``).
        let list: [SocketValue] = [.encoded(onlineUsersList.json(of: online, version: version, including: user))]
        let recipient = socket.namespace.to(socket.id)
        if let recovery {
            do {
                // The database can be ahead of the bus: a mark it gives is handed out once the
                // bus has delivered everything up to it here (a barrier came back), so no event
                // at or below the mark can still reach the socket after it.
                let stored = try await recovery.log.latestPosition(of: user)
                guard await recovery.barrier.pass() else { throw BarrierLost() }
                recovery.marks.mark(for: user, stored: stored) { mark in
                    recipient.emit("online-users", arguments: list, offset: String(mark))
                }
            } catch {
                // Without a mark, this socket cannot recover until its next stored event.
                logger.warning("Could not hand out a recovery mark", metadata: ["error": "\(error)"])
                recipient.emit("online-users", arguments: list, offset: nil)
            }
        } else {
            recipient.emit("online-users", arguments: list)
        }

        socket.on("send-message") { [self] arguments, ack in
            await sendMessage(arguments, from: user, socket: socket, ack: ack)
        }
        socket.on("mark-read") { [self] arguments, ack in
            await markRead(arguments, by: user, ack: ack)
        }
        socket.on("typing") { [self] arguments, ack in
            await relayTyping(arguments, from: user, stop: false, ack: ack)
        }
        socket.on("stop-typing") { [self] arguments, ack in
            await relayTyping(arguments, from: user, stop: true, ack: ack)
        }
        socket.on("send-group-message") { [self] arguments, ack in
            await sendGroupMessage(arguments, from: user, socket: socket, ack: ack)
        }
        socket.on("mark-group-read") { [self] arguments, ack in
            await markGroupRead(arguments, by: user, ack: ack)
        }
    }

    /// Puts the sockets in the rooms of their user's groups, and out of any other group's room (a
    /// socket recovered from memory comes back with the rooms it had, of groups its user may have
    /// left since). Membership can change while it is read: the sockets are in their user's room
    /// already, so a change announced from now on moves them; one announced before is in a
    /// second reading, which decides. A user whose groups cannot be read leaves every group room,
    /// rather than keep one they may have been removed from: `false` then.
    /// Each reading is tried again until `deadline`, if given.
    @discardableResult
    private func joinGroups(
        _ sockets: [Socket], of user: ObjectID, retryingUntil deadline: ContinuousClock.Instant? = nil
    ) async -> Bool {
        let read = { [groups] in
            try await retrying(until: deadline ?? .now, backoff: .milliseconds(100)) {
                try await groups.list(of: user).map { RealtimeRooms.group($0.id) }
            }
        }
        do {
            // Rooms a notice joins meanwhile are the notice's to keep: only those a socket had
            // before, or joined here, are left when the second reading does not have them.
            let before = sockets.map { $0.rooms.filter(RealtimeRooms.isGroup) }
            let first = try await read()
            for socket in sockets { socket.join(first) }
            let now = Set(try await read())
            for (socket, before) in zip(sockets, before) {
                for room in before.union(first) where !now.contains(room) {
                    socket.leave(room)
                }
            }
            return true
        } catch {
            for socket in sockets {
                for room in socket.rooms where RealtimeRooms.isGroup(room) { socket.leave(room) }
            }
            logger.warning(
                "Could not read a user's groups; the socket gets no group events", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// How long after a loss of bus events ``catchUp(_:after:)`` keeps trying to read the store
    /// and pass a barrier (the database may be coming back).
    static let catchUpPatience = Duration.seconds(30)

    /// How many users ``catchUp(_:after:)`` reads about at once: a few connections of the
    /// store's pool (10 or 20 by default), the rest left to live traffic. Eight were no faster
    /// on two cores.
    static let catchUpReads = 4

    /// The first event a user missed while the bus was lost, as the store tells it.
    private enum FirstMissed: Sendable {
        /// Not known: the user is reconnected to recover from the store.
        case unknown
        case nothing
        case at(Int64)
    }

    /// This instance's sockets, by user.
    private static func localSocketsByUser(_ namespace: SocketNamespace) -> [ObjectID: [Socket]] {
        var byUser: [ObjectID: [Socket]] = [:]
        for socket in namespace.all.localSockets {
            guard let session = socket[data: SocketSession.self] else { continue }
            byUser[session.userID, default: []].append(socket)
        }
        return byUser
    }

    /// After the bus lost events (``RealtimeDelivery`` calls it, one loss after another).
    ///
    /// With recovery served by the store (`gap` then says what each user had been delivered
    /// here when the loss was noticed): the local sockets of every user who missed a stored
    /// event close their connection, as a lost network would. Their clients reconnect by
    /// themselves and recover from the store what they missed (``StoredRecovery``), in order
    /// (events that reached them meanwhile, without an offset, may come twice); a live socket
    /// cannot be sent it in place without racing the events the bus brings meanwhile. What a
    /// user missed is told from what the bus brought since by position: the first event the
    /// store has for them after the gap, once a barrier shows the bus has delivered everything
    /// stored before that reading, either was the first delivered to them since or was lost. A
    /// user this instance does not remember, or whose history cannot be read, is reconnected
    /// too. One reading per user, and one barrier; then two readings of the groups of each user
    /// who stays.
    ///
    /// The other sockets go back in the rooms of their user's groups as the store has them (a
    /// `group-changed` may have been lost); with recovery from the store, a user whose groups
    /// cannot be read is reconnected rather than left out of them.
    func catchUp(_ namespace: SocketNamespace, after gap: RecoveryMarks.Gap?) async {
        guard let gap, let recovery else {
            _ = await Array(Self.localSocketsByUser(namespace)).concurrentMap(limit: Self.catchUpReads) {
                [self] user, sockets in
                await joinGroups(sockets, of: user)
            }
            return
        }
        defer { recovery.marks.stopFollowing(gap) }
        // Sockets that connected (or recovered) since read what they have from the store with
        // the bus back.
        let users = Self.localSocketsByUser(namespace).compactMapValues { sockets in
            let before = sockets.filter { $0.handshake.time < gap.at }
            return before.isEmpty ? nil : before
        }
        // The store and the bus may still be coming back: reads and the barrier are tried again
        // until `catchUpPatience` after the loss; past it, a user who cannot be read about is
        // reconnected.
        let deadline = gap.at + Self.catchUpPatience
        let started = ContinuousClock.now
        var firstStored: [ObjectID: Int64] = [:]
        var unknown: Set<ObjectID> = []
        let reads = await Array(users.keys).concurrentMap(limit: Self.catchUpReads) {
            user -> (ObjectID, FirstMissed) in
            do {
                // A user not remembered here has heard nothing we know of; past the deadline,
                // nobody is read about any more.
                guard let heard = gap.heard[user] ?? nil, ContinuousClock.now < deadline else {
                    return (user, .unknown)
                }
                let events = try await retrying(until: deadline, backoff: .milliseconds(100)) {
                    try await recovery.log.events(of: user, after: heard, limit: 1)
                }
                // `nil`: what follows was forgotten.
                guard let events else { return (user, .unknown) }
                return (user, events.first.map { .at($0.position) } ?? .nothing)
            } catch {
                return (user, .unknown)
            }
        }
        for (user, read) in reads {
            switch read {
            case .unknown: unknown.insert(user)
            case .nothing: break
            case .at(let position): firstStored[user] = position
            }
        }
        let caughtUp =
            firstStored.isEmpty
            ? true
            : (try? await retrying(until: deadline, backoff: .milliseconds(100)) {
                guard await recovery.barrier.pass() else { throw BarrierLost() }
                return true
            }) ?? false
        // Those who missed something first, so that few events reach them meanwhile (without
        // an offset, see ``RecoveryMarks/Gap``); then the others' groups.
        var reconnected = 0
        var kept: [(ObjectID, [Socket])] = []
        for (user, sockets) in users {
            let missed =
                unknown.contains(user)
                || firstStored[user].map { first in
                    !caughtUp || recovery.marks.firstDelivered(to: user, since: gap) != first
                } ?? false
            if missed {
                for socket in sockets { socket.closeConnection() }
                reconnected += sockets.count
                recovery.marks.decided(user, in: gap)
            } else {
                kept.append((user, sockets))
            }
        }
        let closed = await kept.concurrentMap(limit: Self.catchUpReads) { [self] user, sockets in
            defer { recovery.marks.decided(user, in: gap) }
            guard await joinGroups(sockets, of: user, retryingUntil: deadline) else {
                for socket in sockets { socket.closeConnection() }
                return sockets.count
            }
            return 0
        }
        reconnected += closed.reduce(0, +)
        if reconnected > 0 {
            logger.notice(
                "Reconnecting sockets that may have missed events while the cluster bus was lost",
                metadata: ["sockets": "\(reconnected)"])
        }
        logger.info(
            "Caught up with the cluster bus",
            metadata: [
                "users": "\(users.count)", "reconnected": "\(reconnected)",
                "milliseconds": "\((ContinuousClock.now - started) / .milliseconds(1))",
            ])
    }

    private func sendGroupMessage(
        _ arguments: [SocketValue], from user: ObjectID, socket: Socket, ack: Acknowledgement?
    ) async {
        let id = ObjectID()
        do {
            let request = try SocketPayload.decode(SendGroupMessageRequest.self, from: arguments)
            sent.sending(id, from: socket.id)
            let message = try await offEventLoop(if: (request.image?.utf8.count ?? 0) > largeBodyBytes) {
                try await groups.send(
                    from: user, to: request.groupId, text: request.text, image: request.image.map(ImageInput.dataURI),
                    id: id)
            }
            ack?.send([RealtimeReply.success([("message", SocketValue(json: message))])])
        } catch {
            sent.failed(id)
            ack?.send([reply(to: error, in: "send-group-message")])
        }
    }

    private func markGroupRead(_ arguments: [SocketValue], by user: ObjectID, ack: Acknowledgement?) async {
        do {
            let request = try SocketPayload.decode(MarkGroupReadRequest.self, from: arguments)
            let (receipt, moved) = try await groups.markRead(in: request.groupId, by: user, upTo: request.upTo)
            ack?.send([
                RealtimeReply.success([
                    ("groupId", .string(receipt.groupID.hexString)), ("upTo", .string(receipt.upTo.hexString)),
                    ("readAt", .string(receipt.readAt.iso8601)), ("moved", .bool(moved)),
                ])
            ])
        } catch {
            ack?.send([reply(to: error, in: "mark-group-read")])
        }
    }

    private func sendMessage(_ arguments: [SocketValue], from user: ObjectID, socket: Socket, ack: Acknowledgement?)
        async
    {
        let id = ObjectID()
        do {
            // The REST body's fields and rules: `send-message` takes what `POST /api/message` takes.
            let request = try SocketPayload.decode(SendMessageRequest.self, from: arguments)
            sent.sending(id, from: socket.id)
            // An image sent inline is decoded and checked off the socket's event loop.
            let message = try await offEventLoop(if: (request.image?.utf8.count ?? 0) > largeBodyBytes) {
                try await messages.send(
                    from: user,
                    to: request.to,
                    text: request.text,
                    image: request.image.map(ImageInput.dataURI),
                    id: id
                )
            }
            ack?.send([RealtimeReply.success([("message", SocketValue(message))])])
        } catch {
            sent.failed(id)
            ack?.send([reply(to: error, in: "send-message")])
        }
    }

    private func markRead(_ arguments: [SocketValue], by user: ObjectID, ack: Acknowledgement?) async {
        do {
            let request = try SocketPayload.decode(MarkReadRequest.self, from: arguments)
            let (receipt, marked) = try await messages.markRead(by: user, with: request.with, upTo: request.upTo)
            ack?.send([
                RealtimeReply.success([
                    ("with", .string(receipt.with.hexString)), ("upTo", .string(receipt.upTo.hexString)),
                    ("readAt", .string(receipt.readAt.iso8601)), ("marked", .int(Int64(marked))),
                ])
            ])
        } catch {
            ack?.send([reply(to: error, in: "mark-read")])
        }
    }

    private func relayTyping(_ arguments: [SocketValue], from user: ObjectID, stop: Bool, ack: Acknowledgement?) async {
        do {
            let request = try SocketPayload.decode(TypingRequest.self, from: arguments)
            if request.to == nil, request.group != nil {
                try await groups.typing(in: request.group, by: user, stop: stop)
                ack?.send([RealtimeReply.success()])
                return
            }
            let receiver = try Validation.id(request.to, field: "to")
            do {
                try await bus.publish(stop ? .stopTyping(from: user, to: receiver) : .typing(from: user, to: receiver))
            } catch {
                throw ParleyError.storeUnavailable("Could not relay the event")
            }
            ack?.send([RealtimeReply.success()])
        } catch {
            ack?.send([reply(to: error, in: stop ? "stop-typing" : "typing")])
        }
    }

    /// A client's mistake is answered with its code; anything else is logged and answered as an
    /// internal error.
    private func reply(to error: any Error, in event: String) -> SocketValue {
        if let error = error as? ParleyError { return RealtimeReply.failure(error) }
        logger.error("\(event) failed", metadata: ["error": "\(String(reflecting: error))"])
        return RealtimeReply.internalError
    }
}

/// The bus did not bring a barrier back in time.
private struct BarrierLost: Error, CustomStringConvertible {
    var description: String { "the cluster bus did not bring a barrier back in time" }
}
