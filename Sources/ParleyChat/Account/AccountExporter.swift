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
/// Memory stays flat whatever the history and however slowly the client reads: conversations
/// and messages are read a page at a time (messages newest first, as pages are read from the
/// end), and the next page only when the response has taken the last one. (It used to be written
/// by a task of its own into an unbounded stream, which read the whole history ahead of a slow
/// reader.)
public struct AccountExporter: Sendable {
    static let sidebarPage = 100
    static let messagePage = ConversationQuery.maximumLimit

    let messages: any MessageRepository

    public init(messages: any MessageRepository) {
        self.messages = messages
    }

    /// The document, in pieces of a page or so each, each read when asked for.
    public func export(_ user: User) -> AccountExport {
        AccountExport(user: user, messages: messages)
    }
}

/// One user's export (see ``AccountExporter``): a sequence of pieces of the JSON document that
/// reads the store only as it is iterated.
public struct AccountExport: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    let user: User
    let messages: any MessageRepository

    public func makeAsyncIterator() -> Iterator {
        Iterator(user: user, messages: messages)
    }

    public struct Iterator: AsyncIteratorProtocol {
        private enum Step {
            case start
            /// Between conversations.
            case conversations
            /// Within the conversation with `peer`, whose older messages come before `before`.
            case messages(peer: ObjectID, before: ObjectID?)
            case end
            case finished
        }

        let user: User
        let messages: any MessageRepository
        private var step = Step.start
        private var json = JSONWriter(capacity: 64 * 1024)
        /// Sidebar entries read and not yet written.
        private var pending: ArraySlice<SidebarEntry> = []
        private var position: SidebarPosition?
        private var sidebarRead = false

        init(user: User, messages: any MessageRepository) {
            self.user = user
            self.messages = messages
        }

        public mutating func next() async throws -> [UInt8]? {
            while true {
                try Task.checkCancellation()
                switch step {
                case .start:
                    json.beginObject()
                    json.member("exportedAt", Timestamp.now().iso8601)
                    json.key("user")
                    user.writeJSON(into: &json)
                    json.key("conversations")
                    json.beginArray()
                    step = .conversations
                case .conversations:
                    if pending.isEmpty, !sidebarRead { try await readSidebarPage() }
                    guard let entry = pending.popFirst() else {
                        step = .end
                        continue
                    }
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
                    step = .messages(peer: entry.user.id, before: nil)
                case .messages(let peer, let before):
                    var query = ConversationQuery(user: user.id, peer: peer, limit: AccountExporter.messagePage)
                    query.before = before
                    let messages = self.messages
                    let page = try await StoreCall.run { try await messages.conversation(query) }
                    for message in page.reversed() { message.writeJSON(into: &json) }
                    if page.count == AccountExporter.messagePage, let oldest = page.first {
                        step = .messages(peer: peer, before: oldest.id)
                    } else {
                        json.endArray()
                        json.endObject()
                        step = .conversations
                    }
                    return json.takeBytes()
                case .end:
                    json.endArray()
                    json.endObject()
                    step = .finished
                    return json.takeBytes()
                case .finished:
                    return nil
                }
            }
        }

        /// The next page of the sidebar's conversations into ``pending``.
        private mutating func readSidebarPage() async throws {
            let (messages, user, position) = (self.messages, self.user.id, self.position)
            let entries = try await StoreCall.run {
                try await messages.sidebar(of: user, after: position, limit: AccountExporter.sidebarPage)
            }
            // Past the conversations come the users never talked to.
            let conversations = entries.prefix { $0.lastMessage != nil }
            pending = conversations[...]
            sidebarRead = conversations.count < entries.count || entries.count < AccountExporter.sidebarPage
            self.position = entries.last?.position
        }
    }
}
