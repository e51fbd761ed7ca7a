import JSONText
import ParleyChat
import ParleyDomain
import SocketIO

/// Hands cluster events to this instance's sockets: everything clients hear comes from the bus,
/// so it is the same on every instance, in the order the bus delivers it.
struct RealtimeDelivery: Sendable {
    let namespace: SocketNamespace
    let sent: SentMessages

    func deliver(_ event: ClusterEvent) {
        switch event {
        case .messageCreated(let message):
            ChatMetrics.busDelivered(afterMilliseconds: Timestamp.now().milliseconds(since: message.createdAt))
            var recipients = namespace.to(
                RealtimeRooms.user(message.receiverID), RealtimeRooms.user(message.senderID))
            // The socket that sent it has its acknowledgement.
            if let sender = sent.delivered(message.id) { recipients = recipients.except(sender) }
            recipients.emit("new-message", SocketValue(message))
        case .messageUpdated(let message), .messageDeleted(let message):
            let name = if case .messageUpdated = event { "message-updated" } else { "message-deleted" }
            namespace.to(RealtimeRooms.user(message.receiverID), RealtimeRooms.user(message.senderID))
                .emit(name, SocketValue(message))
        case .messagesRead(let receipt):
            namespace.to(RealtimeRooms.user(receipt.with), RealtimeRooms.user(receipt.by))
                .emit(
                    "messages-read",
                    [
                        "by": .string(receipt.by.hexString), "with": .string(receipt.with.hexString),
                        "upTo": .string(receipt.upTo.hexString), "readAt": .string(receipt.readAt.iso8601),
                    ])
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
