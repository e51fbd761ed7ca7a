#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Something every instance must hear about: a stored message, a presence change, typing, a
/// session that ended.
///
/// Stores publish ``messageCreated(_:)`` themselves, once the message is committed, so every
/// instance hears messages of one conversation in the order they were stored.
public enum ClusterEvent: Sendable, Hashable {
    case messageCreated(Message)
    /// A sender changed a message's text.
    case messageUpdated(Message)
    /// A sender deleted a message: the tombstone.
    case messageDeleted(Message)
    /// `receipt.by` read the messages from `receipt.with` up to `receipt.upTo`.
    case messagesRead(ReadReceipt)
    case userOnline(ObjectID)
    case userOffline(ObjectID)
    case typing(from: ObjectID, to: ObjectID)
    case stopTyping(from: ObjectID, to: ObjectID)
    /// The session whose token has this fingerprint logged out: end its sockets.
    case sessionEnded(tokenFingerprint: String)
}

extension ClusterEvent {
    /// The wire form: compact JSON, `{"type": …, …}`. The PostgreSQL trigger writes message events
    /// in the same form, so both sides must agree on it.
    public func encoded() -> String {
        let wire: Wire
        switch self {
        case .messageCreated(let message): wire = Wire(type: "message", message: message)
        case .messageUpdated(let message): wire = Wire(type: "message-updated", message: message)
        case .messageDeleted(let message): wire = Wire(type: "message-deleted", message: message)
        case .messagesRead(let receipt): wire = Wire(type: "messages-read", receipt: receipt)
        case .userOnline(let user): wire = Wire(type: "online", user: user)
        case .userOffline(let user): wire = Wire(type: "offline", user: user)
        case .typing(let from, let to): wire = Wire(type: "typing", from: from, to: to)
        case .stopTyping(let from, let to): wire = Wire(type: "stop-typing", from: from, to: to)
        case .sessionEnded(let fingerprint): wire = Wire(type: "session-ended", token: fingerprint)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(wire)) ?? Data(), as: UTF8.self)
    }

    /// Decodes the wire form; `nil` for anything unknown or malformed (ignored by listeners, so
    /// a newer instance's events do not break older ones during a rolling upgrade).
    public init?(encoded text: String) {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(text.utf8)) else { return nil }
        switch wire.type {
        case "message":
            guard let message = wire.message else { return nil }
            self = .messageCreated(message)
        case "message-updated":
            guard let message = wire.message else { return nil }
            self = .messageUpdated(message)
        case "message-deleted":
            guard let message = wire.message else { return nil }
            self = .messageDeleted(message)
        case "messages-read":
            guard let receipt = wire.receipt else { return nil }
            self = .messagesRead(receipt)
        case "online":
            guard let user = wire.user else { return nil }
            self = .userOnline(user)
        case "offline":
            guard let user = wire.user else { return nil }
            self = .userOffline(user)
        case "typing":
            guard let from = wire.from, let to = wire.to else { return nil }
            self = .typing(from: from, to: to)
        case "stop-typing":
            guard let from = wire.from, let to = wire.to else { return nil }
            self = .stopTyping(from: from, to: to)
        case "session-ended":
            guard let token = wire.token else { return nil }
            self = .sessionEnded(tokenFingerprint: token)
        default:
            return nil
        }
    }

    private struct Wire: Codable {
        var type: String
        var message: Message?
        var user: ObjectID?
        var from: ObjectID?
        var to: ObjectID?
        var token: String?
        var receipt: ReadReceipt?
    }
}
