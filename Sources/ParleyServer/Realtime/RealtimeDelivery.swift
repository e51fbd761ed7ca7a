import JSONText
import ParleyChat
import ParleyDomain
import SocketIO

/// Hands cluster events to this instance's sockets: everything clients hear comes from the bus,
/// so it is the same on every instance, in the order the bus delivers it.
///
/// With connection-state recovery served by the store (``StoredRecovery``), an event the store
/// kept carries its position as its offset, and ``marks`` learns it.
struct RealtimeDelivery: Sendable {
    let namespace: SocketNamespace
    let sent: SentMessages
    /// Set when offsets are store positions.
    let marks: RecoveryMarks?
    /// Told when this instance's barriers come back.
    let barrier: BusBarrier?
    /// Called after the bus lost events, with what each local socket's user had been delivered
    /// here by then (with ``marks``; see ``SocketEventHandlers/catchUp(_:after:)``).
    var resynchronize: (@Sendable (SocketNamespace, RecoveryMarks.Gap?) -> Void)? = nil

    /// An event as sockets hear it: its name and arguments, and who hears it: the devices of
    /// `users`, and of every member of `group`.
    struct Broadcast {
        let name: String
        let arguments: [SocketValue]
        let users: [ObjectID]
        var group: ObjectID? = nil
    }

    func deliver(_ delivery: BusDelivery) {
        switch delivery {
        case .event(let event):
            deliver(event, position: nil)
        case .stored(let stored):
            deliver(stored.event, position: stored.position)
        case .resynchronized:
            // Taken now, in the bus's order: what was delivered before the loss, and no more.
            let gap = marks.map { marks in
                marks.follow(namespace.all.localSockets.compactMap { $0[data: SocketSession.self]?.userID })
            }
            resynchronize?(namespace, gap)
        }
    }

    private func deliver(_ event: ClusterEvent, position: Int64?) {
        if case .messageCreated(let message) = event {
            ChatMetrics.busDelivered(afterMilliseconds: Timestamp.now().milliseconds(since: message.createdAt))
        }
        if let broadcast = Self.broadcast(of: event) {
            if case .groupChanged(let notice) = event { keepRooms(for: notice) }
            var rooms = broadcast.users.map { RealtimeRooms.user($0) }
            if let group = broadcast.group { rooms.append(RealtimeRooms.group(group)) }
            var recipients = namespace.to(rooms)
            // The socket that sent it has its acknowledgement.
            var sender: String?
            if case .messageCreated(let message) = event { sender = sent.delivered(message.id) }
            if case .groupMessageCreated(let message) = event { sender = sent.delivered(message.id) }
            if let sender { recipients = recipients.except(sender) }
            if let marks, let position {
                var users = broadcast.users
                if let group = broadcast.group {
                    // The group's members with a socket here: their marks move too.
                    users += Set(
                        namespace.to(RealtimeRooms.group(group)).localSockets.compactMap {
                            $0[data: SocketSession.self]?.userID
                        })
                }
                marks.delivered(position, to: users) { replayedAlready, undecided in
                    let undecidedRooms = undecided.map { RealtimeRooms.user($0) }
                    recipients.except(replayedAlready + undecidedRooms).emit(
                        broadcast.name, arguments: broadcast.arguments, offset: String(position))
                    guard !undecidedRooms.isEmpty else { return }
                    // Whether they missed something is not known yet: their clients keep the
                    // offset they had (see ``RecoveryMarks/Gap``).
                    namespace.to(undecidedRooms).except(replayedAlready + (sender.map { [$0] } ?? [])).emit(
                        broadcast.name, arguments: broadcast.arguments, offset: nil)
                }
            } else {
                recipients.emit(broadcast.name, arguments: broadcast.arguments)
            }
            return
        }
        switch event {
        case .userOnline(let user):
            namespace.emit("user-online", ["userId": .string(user.hexString)])
        case .userOffline(let user):
            namespace.emit("user-offline", ["userId": .string(user.hexString)])
        case .typing(let from, let to):
            namespace.to(RealtimeRooms.user(to)).emit("typing", ["from": .string(from.hexString)])
        case .stopTyping(let from, let to):
            namespace.to(RealtimeRooms.user(to)).emit("stop-typing", ["from": .string(from.hexString)])
        case .sessionEnded(let fingerprint):
            for socket in namespace.to(RealtimeRooms.token(fingerprint)).localSockets {
                socket.disconnect()
            }
        case .sessionsRevoked(let user, let upTo):
            // Sockets opened with a token issued after the revocation (a new login) stay.
            for socket in namespace.to(RealtimeRooms.user(user)).localSockets {
                guard let session = socket[data: SocketSession.self], session.issuedAt <= upTo else { continue }
                socket.disconnect()
            }
        case .barrier(let token):
            barrier?.arrived(token)
        case .groupTyping(let from, let group, let stop):
            namespace.to(RealtimeRooms.group(group)).except(RealtimeRooms.user(from)).emit(
                stop ? "stop-typing" : "typing", ["from": .string(from.hexString), "group": .string(group.hexString)])
        case .messageCreated, .messageUpdated, .messageDeleted, .messagesRead, .groupMessageCreated,
            .groupMessageUpdated, .groupMessageDeleted, .groupRead, .groupChanged:
            break
        }
    }

    /// Moves this instance's sockets in or out of a group's room as its membership changes,
    /// before the notice itself is sent: members it adds hear it and everything after it, users
    /// it removes hear it (through their own room) and nothing after it.
    private func keepRooms(for notice: GroupNotice) {
        let room = RealtimeRooms.group(notice.group.id)
        for member in notice.added {
            for socket in namespace.to(RealtimeRooms.user(member.userID)).localSockets { socket.join(room) }
        }
        for user in notice.removed {
            for socket in namespace.to(RealtimeRooms.user(user)).localSockets { socket.leave(room) }
        }
        if notice.kind == .closed {
            for socket in namespace.to(room).localSockets { socket.leave(room) }
        }
    }

    /// What the users' devices hear of a change to stored messages (`new-message`,
    /// `message-updated`, `message-deleted`, `messages-read`), live or replayed; `nil` for
    /// other events.
    static func broadcast(of event: ClusterEvent) -> Broadcast? {
        switch event {
        case .messageCreated(let message):
            Broadcast(
                name: "new-message", arguments: [SocketValue(message)],
                users: [message.receiverID, message.senderID])
        case .messageUpdated(let message), .messageDeleted(let message):
            Broadcast(
                name: { if case .messageUpdated = event { "message-updated" } else { "message-deleted" } }(),
                arguments: [SocketValue(message)], users: [message.receiverID, message.senderID])
        case .messagesRead(let receipt):
            Broadcast(
                name: "messages-read",
                arguments: [
                    [
                        "by": .string(receipt.by.hexString), "with": .string(receipt.with.hexString),
                        "upTo": .string(receipt.upTo.hexString), "readAt": .string(receipt.readAt.iso8601),
                    ]
                ],
                users: [receipt.with, receipt.by])
        case .groupMessageCreated(let message):
            Broadcast(
                name: "new-group-message", arguments: [SocketValue(json: message)], users: [], group: message.groupID)
        case .groupMessageUpdated(let message):
            Broadcast(
                name: "group-message-updated", arguments: [SocketValue(json: message)], users: [],
                group: message.groupID)
        case .groupMessageDeleted(let message):
            Broadcast(
                name: "group-message-deleted", arguments: [SocketValue(json: message)], users: [],
                group: message.groupID)
        case .groupRead(let receipt):
            Broadcast(name: "group-read", arguments: [SocketValue(json: receipt)], users: [], group: receipt.groupID)
        case .groupChanged(let notice):
            // Users it removed are no longer in the group's room: they hear it in their own; so
            // do users it added (a socket away now recovers it from there).
            Broadcast(
                name: "group-changed", arguments: [SocketValue(json: notice)],
                users: notice.removed + notice.added.map(\.userID),
                group: notice.kind == .closed ? nil : notice.group.id)
        default:
            nil
        }
    }
}

extension SocketValue {
    /// A value as clients receive it: its JSON form, written into packets as it is.
    init(json value: some JSONWritable) {
        var json = JSONWriter()
        value.writeJSON(into: &json)
        self = .encoded(EncodedJSON(unchecked: json.text))
    }

    /// A message as clients receive it: its JSON form (``Message/writeJSON(into:)``), written
    /// into packets as it is.
    init(_ message: Message) {
        var json = JSONWriter()
        message.writeJSON(into: &json)
        self = .encoded(EncodedJSON(unchecked: json.text))
    }
}
