/// `POST /api/message` and the `send-message` event: `{to, text?, image?}`.
public struct SendMessageRequest: FormDecodable {
    public static let fieldNames = ["to", "text", "image"]
    public var to: String?
    public var text: String?
    /// A data URI (multipart: a file part instead).
    public var image: String?

    public init(fields: [String: String]) {
        to = fields["to"]
        text = fields["text"]
        image = fields["image"]
    }
}

/// `POST /api/message/:userId/read` (`{upTo}`) and the `mark-read` event (`{with, upTo}`).
public struct MarkReadRequest: FormDecodable {
    public static let fieldNames = ["with", "upTo"]
    public var with: String?
    public var upTo: String?

    public init(fields: [String: String]) {
        with = fields["with"]
        upTo = fields["upTo"]
    }
}

/// `PATCH /api/message/:messageId`: `{text}`.
public struct EditMessageRequest: FormDecodable {
    public static let fieldNames = ["text"]
    public var text: String?

    public init(fields: [String: String]) {
        text = fields["text"]
    }
}

/// The `typing` and `stop-typing` events: `{to}` for a user, or `{group}` for a group.
public struct TypingRequest: FormDecodable {
    public static let fieldNames = ["to", "group"]
    public var to: String?
    public var group: String?

    public init(fields: [String: String]) {
        to = fields["to"]
        group = fields["group"]
    }
}
