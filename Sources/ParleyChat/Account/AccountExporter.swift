import JSONText
import ParleyDomain

/// Everything Parley holds about a user, as one JSON document written piece by piece (what the
/// data-protection right of access asks for): the profile, and every conversation with its
/// messages, the user's and the other side's, as stored (deleted ones as tombstones).
///
/// ```json
/// {"exportedAt": "…", "user": {"_id", "name", "email", "avatar", "createdAt", "updatedAt"},
///  "conversations": [{"with": {"_id", "name", "deleted"}, "messages": [<newest first>]}]}
/// ```
/// Memory stays flat whatever the history: conversations and messages are read a page at a time
/// (messages newest first, as pages are read from the end).
public struct AccountExporter: Sendable {
    static let sidebarPage = 100
    static let messagePage = ConversationQuery.maximumLimit

    let messages: any MessageRepository

    public init(messages: any MessageRepository) {
        self.messages = messages
    }

    /// The document, in pieces of a page or so each.
    public func export(_ user: User) -> AsyncThrowingStream<[UInt8], any Error> {
        let messages = self.messages
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var json = JSONWriter(capacity: 64 * 1024)
                    json.beginObject()
                    json.member("exportedAt", Timestamp.now().iso8601)
                    json.key("user")
                    user.writeJSON(into: &json)
                    json.key("conversations")
                    json.beginArray()
                    var position: SidebarPosition?
                    pages: while true {
                        let entries = try await StoreCall.run {
                            try await messages.sidebar(of: user.id, after: position, limit: Self.sidebarPage)
                        }
                        for entry in entries {
                            // Past the conversations come the users never talked to.
                            guard entry.lastMessage != nil else { break pages }
                            try await Self.write(conversationWith: entry, of: user.id, into: &json, messages: messages)
                            {
                                continuation.yield($0)
                            }
                        }
                        guard entries.count == Self.sidebarPage, let last = entries.last else { break }
                        position = last.position
                    }
                    json.endArray()
                    json.endObject()
                    continuation.yield(json.takeBytes())
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private static func write(
        conversationWith entry: SidebarEntry,
        of user: ObjectID,
        into json: inout JSONWriter,
        messages: any MessageRepository,
        yield: ([UInt8]) -> Void
    ) async throws {
        json.beginObject()
        json.key("with")
        json.beginObject()
        json.member("_id", entry.user.id.hexString)
        json.member("name", entry.user.name)
        json.key("deleted")
        json.bool(entry.userDeleted)
        json.endObject()
        json.key("messages")
        json.beginArray()
        var before: ObjectID?
        while true {
            try Task.checkCancellation()
            var query = ConversationQuery(user: user, peer: entry.user.id, limit: messagePage)
            query.before = before
            let page = try await StoreCall.run { try await messages.conversation(query) }
            for message in page.reversed() { message.writeJSON(into: &json) }
            yield(json.takeBytes())
            guard page.count == messagePage, let oldest = page.first else { break }
            before = oldest.id
        }
        json.endArray()
        json.endObject()
    }
}
