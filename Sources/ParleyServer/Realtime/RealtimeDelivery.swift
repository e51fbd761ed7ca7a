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

    /// An event as sockets hear it: its name and arguments, and who hears it.
    struct Broadcast {
        let name: String
        let arguments: [SocketValue]
        let users: [ObjectID]
    }

    func deliver(_ delivery: BusDelivery) {
        switch delivery {
        case .event(let event):
            deliver(event, position: nil)
        case .stored(let stored):
            deliver(stored.event, position: stored.position)
        case .resynchronized:
            break
        }
    }

    private func deliver(_ event: ClusterEvent, position: Int64?) {
        if case .messageCreated(let message) = event {
            ChatMetrics.busDelivered(afterMilliseconds: Timestamp.now().milliseconds(since: message.createdAt))
        }
        if let broadcast = Self.broadcast(of: event) {
            var recipients = namespace.to(broadcast.users.map { RealtimeRooms.user($0) })
            // The socket that sent it has its acknowledgement.
            if case .messageCreated(let message) = event, let sender = sent.delivered(message.id) {
                recipients = recipients.except(sender)
            }
            if let marks, let position {
                marks.delivered(position, to: broadcast.users) { replayedAlready in
                    recipients.except(replayedAlready).emit(
                        broadcast.name, arguments: broadcast.arguments, offset: String(position))
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
        case .messageCreated, .messageUpdated, .messageDeleted, .messagesRead:
            break
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
        default:
            nil
        }
    }
}

extension SocketValue {
    /// A message as clients receive it: its JSON form (``Message/writeJSON(into:)``), written
    /// into packets as it is.
    init(_ message: Message) {
        var json = JSONWriter()
        message.writeJSON(into: &json)
        self = .encoded(EncodedJSON(unchecked: json.text))
    }
}
