import Logging
import ParleyChat
import ParleyDomain

/// Builders for domain values in tests.
enum Fixture {
    static func user(
        name: String = "Ann",
        email: String? = nil,
        hash: String = "$2b$04$abcdefghijklmnopqrstuu5Mc1Vv0QBvh2hVvZ6NqkxZ3tmTk0V7.",
        at time: Timestamp = Timestamp(millisecondsSince1970: 1_700_000_000_123)
    ) -> UserRecord {
        let id = ObjectID()
        return UserRecord(
            user: User(
                id: id,
                name: name,
                email: email ?? "\(id.hexString)@example.com",
                avatar: "",
                createdAt: time,
                updatedAt: time
            ),
            passwordHash: hash
        )
    }

    static func message(
        from sender: ObjectID,
        to receiver: ObjectID,
        text: String? = "hello",
        image: String? = nil,
        at time: Timestamp = .now()
    ) -> Message {
        Message(
            id: ObjectID(),
            senderID: sender,
            receiverID: receiver,
            text: text,
            image: image,
            imageMediaID: image.map { _ in "media-\(ObjectID().hexString)" },
            createdAt: time,
            updatedAt: time
        )
    }
}

extension Logger {
    /// A logger for tests that only shows warnings and errors.
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }
}

extension Logger {
    /// A logger for tests whose failures are expected and asserted: shows nothing.
    static var silent: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }
}
