import Logging
import ParleyDomain

/// Messages in groups: the rules of one-to-one messages (``MessageService``), for members only.
extension GroupService {
    /// Validates and stores a message from `sender` to a group (raw client input). The store
    /// announces it to every member's devices.
    /// - Parameter id: the id the message will have (a realtime caller picks it first).
    public func send(
        from sender: ObjectID, to group: String?, text: String?, image: ImageInput?, id: ObjectID = ObjectID()
    ) async throws -> GroupMessage {
        let groupID = try Validation.id(group, field: "groupId")
        let text = try Validation.messageText(text)
        let upload = try image.map { try images.validate($0, field: "image") }
        guard text != nil || upload != nil else {
            throw ParleyError(.badRequest, code: "empty_message", message: "A message needs text or an image")
        }
        // With an image, membership is checked before it is uploaded; otherwise the store's
        // insert checks it.
        if upload != nil, try await Self.call({ try await messages.role(of: sender, in: groupID) }) == nil {
            throw Self.notFound
        }
        var stored: MediaReference?
        if let upload { stored = try await media.store(upload, purpose: .message) }
        let now = Timestamp.now()
        let message = GroupMessage(
            id: id, groupID: groupID, senderID: sender, text: text, image: stored?.url, imageMediaID: stored?.mediaID,
            createdAt: now, updatedAt: now)
        do {
            try await Self.call { try await messages.insertGroupMessage(message) }
        } catch {
            if let mediaID = stored?.mediaID {
                await media.discard(mediaID, ofWriteThatFailedWith: error, logger: logger)
            }
            throw error
        }
        ChatMetrics.messageSent()
        return message
    }

    /// A page of a group's history (raw client input), oldest first: the rules of
    /// ``MessageService/conversation(of:with:before:after:updatedAfter:limit:)``.
    public func history(
        of group: String?, for user: ObjectID, before: String?, after: String?, updatedAfter: String?, limit: String?
    ) async throws -> [GroupMessage] {
        let groupID = try Validation.id(group, field: "groupId")
        let page = try PageRequest(before: before, after: after, updatedAfter: updatedAfter, limit: limit)
        let query = GroupMessageQuery(
            user: user, group: groupID, before: page.before, after: page.after, updatedAfter: page.updatedAfter,
            limit: page.limit)
        do {
            return try await Self.call { try await messages.groupMessages(query) }
        } catch let error as ParleyError where error.code == "invalid_cursor" {
            throw ParleyError.invalidField("cursor", "before/after must be the id of a message in this group")
        }
    }

    /// Moves `user`'s read position in the group to `upTo` (raw input); tells every member's
    /// devices when it moved.
    /// - Returns: the receipt, and whether it moved.
    public func markRead(in group: String?, by user: ObjectID, upTo: String?) async throws -> (GroupReadReceipt, Bool) {
        let groupID = try Validation.id(group, field: "groupId")
        let upToID = try Validation.id(upTo, field: "upTo")
        let receipt = GroupReadReceipt(groupID: groupID, by: user, upTo: upToID, readAt: .now())
        let moved: Bool
        do {
            moved = try await Self.call {
                try await messages.markGroupRead(groupID, by: user, upTo: upToID, at: receipt.readAt)
            }
        } catch let error as ParleyError where error.code == "invalid_cursor" {
            throw ParleyError.messageNotFound
        }
        if moved { await publish(.groupRead(receipt)) }
        return (receipt, moved)
    }

    /// Replaces the text of `user`'s message in a group, within the edit window.
    public func edit(message messageID: String?, in group: String?, by user: ObjectID, text: String?) async throws
        -> GroupMessage
    {
        let message = try await ownMessage(messageID, in: group, of: user)
        guard let text = try Validation.messageText(text) else {
            throw ParleyError(.badRequest, code: "empty_message", message: "An edited message needs text")
        }
        guard message.deletedAt == nil else { throw Self.deleted }
        let now = Timestamp.now()
        guard editWindow > .zero, Duration.milliseconds(now.milliseconds(since: message.createdAt)) <= editWindow
        else {
            throw ParleyError(
                .forbidden, code: "edit_window_closed", message: "Messages can be edited for a while after sending")
        }
        guard
            let edited = try await Self.call({
                try await messages.editGroupMessage(id: message.id, text: text, at: now)
            })
        else { throw Self.deleted }
        await publish(.groupMessageUpdated(edited))
        return edited
    }

    /// Deletes `user`'s message in a group: it stays as a tombstone, its image is destroyed.
    /// Deleting it again returns the tombstone.
    public func delete(message messageID: String?, in group: String?, by user: ObjectID) async throws -> GroupMessage {
        let message = try await ownMessage(messageID, in: group, of: user)
        guard message.deletedAt == nil,
            let previous = try await Self.call({ try await messages.deleteGroupMessage(id: message.id, at: .now()) })
        else {
            return try await Self.call { try await messages.groupMessage(id: message.id) } ?? message
        }
        if let mediaID = previous.imageMediaID {
            do {
                try await media.delete(mediaID)
            } catch {
                logger.warning(
                    "Could not delete the image of a deleted message",
                    metadata: ["message": "\(message.id)", "media": "\(mediaID)", "error": "\(error)"])
            }
        }
        let tombstone = try await Self.call { try await messages.groupMessage(id: message.id) } ?? previous
        await publish(.groupMessageDeleted(tombstone))
        return tombstone
    }

    /// Tells the group's other members' devices that `user` is typing (or stopped).
    public func typing(in group: String?, by user: ObjectID, stop: Bool) async throws {
        let groupID = try Validation.id(group, field: "group")
        guard try await Self.call({ try await messages.role(of: user, in: groupID) }) != nil else {
            throw Self.notFound
        }
        do {
            try await bus.publish(.groupTyping(from: user, group: groupID, stop: stop))
        } catch {
            throw ParleyError.storeUnavailable("Could not relay the event")
        }
    }

    /// The message, if `user` is a member of `group` and sent it: 404 when the group or the
    /// message is not there for them, 403 when someone else sent it.
    private func ownMessage(_ messageID: String?, in group: String?, of user: ObjectID) async throws -> GroupMessage {
        let groupID = try Validation.id(group, field: "groupId")
        let id = try Validation.id(messageID, field: "messageId")
        guard try await Self.call({ try await messages.role(of: user, in: groupID) }) != nil else {
            throw Self.notFound
        }
        guard let message = try await Self.call({ try await messages.groupMessage(id: id) }), message.groupID == groupID
        else { throw ParleyError.messageNotFound }
        guard message.senderID == user else {
            throw ParleyError(.forbidden, code: "not_your_message", message: "Only its sender can change a message")
        }
        return message
    }

    static let deleted = ParleyError(.conflict, code: "message_deleted", message: "The message was deleted")
}
