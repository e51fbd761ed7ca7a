import Logging
import ParleyDomain

/// Contacts and one-to-one conversations.
///
/// The same rules apply whether a message arrives over REST or Socket.IO, because both call
/// ``send(from:to:text:image:)``.
public struct MessageService: Sendable {
    let users: any UserRepository
    let messages: any MessageRepository
    let media: any MediaStore
    let images: ImageValidator
    let presence: any PresenceReader
    let bus: any ClusterBus
    /// How long after sending a sender may still edit a message.
    let editWindow: Duration
    let logger: Logger

    public init(
        users: any UserRepository,
        messages: any MessageRepository,
        media: any MediaStore,
        images: ImageValidator,
        presence: any PresenceReader,
        bus: any ClusterBus,
        editWindow: Duration = .seconds(15 * 60),
        logger: Logger
    ) {
        self.users = users
        self.messages = messages
        self.media = media
        self.images = images
        self.presence = presence
        self.bus = bus
        self.editWindow = editWindow
        self.logger = logger
    }

    /// Everyone `user` can talk to (raw client input for paging): those they have a conversation
    /// with first, most recent first, with the newest message and their unread count; then
    /// everyone else by name. Never includes emails.
    /// - Returns: the page, and the cursor of the next one when there may be more.
    public func contacts(of user: ObjectID, limit: String? = nil, cursor: String? = nil) async throws
        -> (contacts: [Contact], next: String?)
    {
        var pageSize: Int?
        if let limit {
            guard let value = Int(limit), (1...Self.maximumContactsPage).contains(value) else {
                throw ParleyError.invalidField(
                    "limit", "limit must be an integer from 1 to \(Self.maximumContactsPage)")
            }
            pageSize = value
        }
        let position = try cursor.map { try SidebarCursor.decode($0) }
        let entries = try await StoreCall.run {
            try await messages.sidebar(of: user, after: position, limit: pageSize)
        }
        let online = await presence.onlineUsers()
        let contacts = entries.map { entry in
            Contact(
                id: entry.user.id,
                name: entry.user.name,
                avatar: entry.user.avatar,
                online: online.contains(entry.user.id),
                lastMessage: entry.lastMessage,
                unreadCount: entry.unreadCount,
                deleted: entry.userDeleted
            )
        }
        let next = pageSize.flatMap { size in
            entries.count == size ? entries.last.map { SidebarCursor.encode($0.position) } : nil
        }
        return (contacts, next)
    }

    /// The largest page of contacts a client may ask for.
    public static let maximumContactsPage = 1000

    /// A page of the conversation between `user` and `peer` (raw client input), oldest first.
    public func conversation(
        of user: ObjectID,
        with peer: String,
        before: String?,
        after: String?,
        updatedAfter: String? = nil,
        limit: String?
    ) async throws -> [Message] {
        let peerID = try Validation.id(peer, field: "userId")
        let page = try PageRequest(before: before, after: after, updatedAfter: updatedAfter, limit: limit)
        var query = ConversationQuery(
            user: user, peer: peerID, before: page.before, after: page.after, limit: page.limit)
        query.updatedAfter = page.updatedAfter
        guard try await StoreCall.run({ try await users.user(id: peerID) }) != nil else {
            throw ParleyError.userNotFound
        }
        return try await StoreCall.run { try await messages.conversation(query) }
    }

    /// Validates and stores a message from `sender`. The image, if any, is stored first; the
    /// message is saved only when that succeeded.
    /// - Parameter id: the id the message will have (a realtime caller picks it first, to know the
    ///   message when its event comes back).
    public func send(
        from sender: ObjectID,
        to receiver: String?,
        text: String?,
        image: ImageInput?,
        id: ObjectID = ObjectID()
    ) async throws -> Message {
        let receiverID = try Validation.id(receiver, field: "to")
        let text = try Validation.messageText(text)
        let upload = try image.map { try images.validate($0, field: "image") }
        guard text != nil || upload != nil else {
            throw ParleyError(.badRequest, code: "empty_message", message: "A message needs text or an image")
        }
        // With an image, the receiver is checked before it is uploaded; otherwise the store's
        // insert reports an unknown receiver itself, one query fewer per message.
        if upload != nil, try await StoreCall.run({ try await users.user(id: receiverID) }) == nil {
            throw ParleyError.userNotFound
        }
        var stored: MediaReference?
        if let upload { stored = try await media.store(upload, purpose: .message) }
        let now = Timestamp.now()
        let message = Message(
            id: id,
            senderID: sender,
            receiverID: receiverID,
            text: text,
            image: stored?.url,
            imageMediaID: stored?.mediaID,
            createdAt: now,
            updatedAt: now
        )
        do {
            try await StoreCall.run { try await messages.insertMessage(message) }
        } catch {
            if let mediaID = stored?.mediaID {
                await media.discard(mediaID, ofWriteThatFailedWith: error, logger: logger)
            }
            throw error
        }
        ChatMetrics.messageSent()
        return message
    }
}

extension MessageService {
    /// Marks the messages `peer` sent `user` up to and including `upTo` as read (raw client
    /// input). Tells both users' devices, on every instance, when that changed anything.
    /// - Returns: the receipt, and how many messages it marked.
    public func markRead(by user: ObjectID, with peer: String?, upTo: String?) async throws -> (ReadReceipt, Int) {
        let peerID = try Validation.id(peer, field: "userId")
        let upToID = try Validation.id(upTo, field: "upTo")
        guard peerID != user else {
            throw ParleyError.invalidField("userId", "Your own messages are never unread")
        }
        let receipt = ReadReceipt(by: user, with: peerID, upTo: upToID, readAt: .now())
        let marked = try await StoreCall.run {
            do {
                return try await messages.markRead(by: user, from: peerID, upTo: upToID, at: receipt.readAt)
            } catch StoreError.cursorNotFound {
                throw ParleyError.messageNotFound
            }
        }
        if marked > 0 {
            await publish(.messagesRead(receipt))
        }
        return (receipt, marked)
    }

    /// Replaces the text of `user`'s message (raw client input), within ``editWindow`` of
    /// sending it.
    public func edit(messageID: String?, by user: ObjectID, text: String?) async throws -> Message {
        let id = try Validation.id(messageID, field: "messageId")
        guard let text = try Validation.messageText(text) else {
            throw ParleyError(.badRequest, code: "empty_message", message: "An edited message needs text")
        }
        let message = try await ownMessage(id, of: user)
        guard message.deletedAt == nil else { throw Self.deleted }
        let now = Timestamp.now()
        let age = now.milliseconds(since: message.createdAt)
        guard editWindow > .zero, Duration.milliseconds(age) <= editWindow else {
            throw ParleyError(
                .forbidden,
                code: "edit_window_closed",
                message: "Messages can be edited for \(Self.describe(editWindow)) after sending"
            )
        }
        guard let edited = try await StoreCall.run({ try await messages.editMessage(id: id, text: text, at: now) })
        else { throw Self.deleted }
        await publish(.messageUpdated(edited))
        return edited
    }

    /// Deletes `user`'s message (raw client input): it stays as a tombstone and its image is
    /// destroyed. Deleting it again returns the tombstone.
    public func delete(messageID: String?, by user: ObjectID) async throws -> Message {
        let id = try Validation.id(messageID, field: "messageId")
        let message = try await ownMessage(id, of: user)
        guard message.deletedAt == nil,
            let previous = try await StoreCall.run({ try await messages.deleteMessage(id: id, at: .now()) })
        else {
            // Deleted already (perhaps a moment ago, from another device): harmless.
            return try await StoreCall.run { try await messages.message(id: id) } ?? message
        }
        if let mediaID = previous.imageMediaID {
            do {
                try await media.delete(mediaID)
            } catch {
                logger.warning(
                    "Could not delete the image of a deleted message",
                    metadata: ["message": "\(id)", "media": "\(mediaID)", "error": "\(error)"]
                )
            }
        }
        var tombstone = previous
        tombstone.text = nil
        tombstone.image = nil
        tombstone.imageMediaID = nil
        if let stored = try await StoreCall.run({ try await messages.message(id: id) }) { tombstone = stored }
        await publish(.messageDeleted(tombstone))
        return tombstone
    }

    /// The message, if `user` sent it: 404 when there is none, 403 when someone else sent it.
    private func ownMessage(_ id: ObjectID, of user: ObjectID) async throws -> Message {
        guard let message = try await StoreCall.run({ try await messages.message(id: id) }) else {
            throw ParleyError.messageNotFound
        }
        guard message.senderID == user else {
            throw ParleyError(.forbidden, code: "not_your_message", message: "Only its sender can change a message")
        }
        return message
    }

    /// Events about changes are told after the change is stored; a bus outage loses the event,
    /// not the change (clients catch up through the conversation endpoint).
    private func publish(_ event: ClusterEvent) async {
        do {
            try await bus.publish(event)
        } catch {
            logger.warning("Could not publish an event", metadata: ["error": "\(error)"])
        }
    }

    private static let deleted = ParleyError(.conflict, code: "message_deleted", message: "The message was deleted")

    private static func describe(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        return seconds % 60 == 0 ? "\(seconds / 60) minutes" : "\(seconds) seconds"
    }
}

/// A user as the contact list shows them: no email; the newest message with them (`null`
/// when there is none) and how many of theirs are unread.
public struct Contact: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var name: String
    public var avatar: String
    public var online: Bool
    public var lastMessage: LastMessage?
    public var unreadCount: Int
    /// The user deleted their account (the conversation stays; `name` and `avatar` are empty).
    public var deleted: Bool

    public init(
        id: ObjectID,
        name: String,
        avatar: String,
        online: Bool,
        lastMessage: LastMessage? = nil,
        unreadCount: Int = 0,
        deleted: Bool = false
    ) {
        self.id = id
        self.name = name
        self.avatar = avatar
        self.online = online
        self.lastMessage = lastMessage
        self.unreadCount = unreadCount
        self.deleted = deleted
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name, avatar, online, lastMessage, unreadCount, deleted
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(ObjectID.self, forKey: .id),
            name: try container.decode(String.self, forKey: .name),
            avatar: try container.decode(String.self, forKey: .avatar),
            online: try container.decode(Bool.self, forKey: .online),
            lastMessage: try container.decodeIfPresent(LastMessage.self, forKey: .lastMessage),
            unreadCount: try container.decodeIfPresent(Int.self, forKey: .unreadCount) ?? 0,
            deleted: try container.decodeIfPresent(Bool.self, forKey: .deleted) ?? false
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(avatar, forKey: .avatar)
        try container.encode(online, forKey: .online)
        try container.encode(lastMessage, forKey: .lastMessage)
        try container.encode(unreadCount, forKey: .unreadCount)
        // Only for deleted users: the Node app's answer had no such member.
        if deleted { try container.encode(true, forKey: .deleted) }
    }
}
