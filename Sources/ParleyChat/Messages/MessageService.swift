import Logging

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
    let logger: Logger

    public init(
        users: any UserRepository,
        messages: any MessageRepository,
        media: any MediaStore,
        images: ImageValidator,
        presence: any PresenceReader,
        logger: Logger
    ) {
        self.users = users
        self.messages = messages
        self.media = media
        self.images = images
        self.presence = presence
        self.logger = logger
    }

    /// Everyone `user` can talk to, with whether they are online. Never includes emails.
    public func contacts(of user: ObjectID) async throws -> [Contact] {
        let others = try await StoreCall.run { try await users.users(excluding: user) }
        let online = await presence.onlineUsers()
        return others.map { Contact(id: $0.id, name: $0.name, avatar: $0.avatar, online: online.contains($0.id)) }
    }

    /// A page of the conversation between `user` and `peer` (raw client input), oldest first.
    public func conversation(
        of user: ObjectID,
        with peer: String,
        before: String?,
        after: String?,
        limit: String?
    ) async throws -> [Message] {
        let peerID = try Validation.id(peer, field: "userId")
        var query = ConversationQuery(user: user, peer: peerID)
        query.before = try before.map { try Validation.id($0, field: "before") }
        query.after = try after.map { try Validation.id($0, field: "after") }
        if let limit {
            guard let value = Int(limit), (1...ConversationQuery.maximumLimit).contains(value) else {
                throw ParleyError.invalidField(
                    "limit",
                    "limit must be an integer from 1 to \(ConversationQuery.maximumLimit)"
                )
            }
            query.limit = value
        }
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
                try? await media.delete(mediaID)
            }
            throw error
        }
        return message
    }
}

/// A user as the contact list shows them: no email.
public struct Contact: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var name: String
    public var avatar: String
    public var online: Bool

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name, avatar, online
    }
}
