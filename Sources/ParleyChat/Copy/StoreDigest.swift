import Crypto
import ParleyDomain

/// A count and a SHA-256 over one collection's content, in id order, for `parley copy --verify`.
///
/// Covers every field a client or a login sees (ids, names, emails, password hashes, avatars,
/// texts, images, timestamps to the millisecond, read, edit and delete times) and nothing a store keeps for itself (media ids,
/// storage order), so equal content gives equal digests in every store.
public struct CollectionDigest: Sendable, Hashable, CustomStringConvertible {
    public var count: Int
    /// Lower-case hex.
    public var sha256: String

    public var description: String { "\(count) records, sha256 \(sha256)" }
}

/// Both collections' digests of one store.
public struct StoreDigest: Sendable, Hashable {
    public var users: CollectionDigest
    public var messages: CollectionDigest
    /// Groups with their members and read positions.
    public var groups: CollectionDigest
    public var groupMessages: CollectionDigest

    public subscript(collection: CopyCollection) -> CollectionDigest {
        switch collection {
        case .users: users
        case .messages: messages
        case .groups: groups
        case .groupMessages: groupMessages
        }
    }

    /// Reads the whole store, a batch at a time.
    public static func compute(
        of store: any ChatExporter,
        batchSize: Int = 5000,
        progress: @Sendable (CopyCollection, Int) -> Void = { _, _ in }
    ) async throws -> StoreDigest {
        var users = DigestBuilder()
        var after: ObjectID?
        while true {
            let batch = try await store.exportUsers(after: after, limit: batchSize)
            guard !batch.isEmpty else { break }
            for record in batch {
                switch record {
                case .valid(let record):
                    let user = record.user
                    users.add([
                        user.id.hexString, user.name, user.email, record.passwordHash, user.avatar,
                        String(user.createdAt.millisecondsSince1970), String(user.updatedAt.millisecondsSince1970),
                    ])
                    after = user.id
                case .invalid(let id, _):
                    users.add(["invalid", id])
                    guard let id = ObjectID(id) else { throw CopyError.unreadableID(id) }
                    after = id
                }
            }
            progress(.users, users.count)
        }

        var messages = DigestBuilder()
        var afterMessage: ObjectID?
        while true {
            let batch = try await store.messagesByID(after: afterMessage, limit: batchSize)
            guard let last = batch.last else { break }
            for message in batch {
                messages.add([
                    message.id.hexString, message.senderID.hexString, message.receiverID.hexString,
                    message.text, message.image,
                    String(message.createdAt.millisecondsSince1970), String(message.updatedAt.millisecondsSince1970),
                    message.readAt.map { String($0.millisecondsSince1970) },
                    message.editedAt.map { String($0.millisecondsSince1970) },
                    message.deletedAt.map { String($0.millisecondsSince1970) },
                ])
            }
            afterMessage = last.id
            progress(.messages, messages.count)
        }
        var groups = DigestBuilder()
        var afterGroup: ObjectID?
        while true {
            let batch = try await store.exportGroups(after: afterGroup, limit: batchSize)
            guard let last = batch.last else { break }
            for exported in batch {
                let group = exported.group
                var fields: [String?] = [
                    group.id.hexString, group.name, group.avatar, String(group.createdAt.millisecondsSince1970),
                    String(group.updatedAt.millisecondsSince1970),
                    group.closedAt.map { String($0.millisecondsSince1970) },
                ]
                for member in exported.members.sorted(by: { $0.userID < $1.userID }) {
                    fields += [
                        member.userID.hexString, member.role.rawValue, String(member.joinedAt.millisecondsSince1970),
                    ]
                }
                fields.append("reads")
                for read in exported.reads.sorted(by: { $0.by < $1.by }) {
                    fields += [read.by.hexString, read.upTo.hexString, String(read.readAt.millisecondsSince1970)]
                }
                groups.add(fields)
            }
            afterGroup = last.group.id
            progress(.groups, groups.count)
        }

        var groupMessages = DigestBuilder()
        var afterGroupMessage: ObjectID?
        while true {
            let batch = try await store.groupMessagesByID(after: afterGroupMessage, limit: batchSize)
            guard let last = batch.last else { break }
            for message in batch {
                groupMessages.add([
                    message.id.hexString, message.groupID.hexString, message.senderID.hexString, message.text,
                    message.image, String(message.createdAt.millisecondsSince1970),
                    String(message.updatedAt.millisecondsSince1970),
                    message.editedAt.map { String($0.millisecondsSince1970) },
                    message.deletedAt.map { String($0.millisecondsSince1970) },
                ])
            }
            afterGroupMessage = last.id
            progress(.groupMessages, groupMessages.count)
        }
        return StoreDigest(
            users: users.finish(), messages: messages.finish(), groups: groups.finish(),
            groupMessages: groupMessages.finish())
    }
}

/// Hashes records as fields that cannot run into each other: each is marked present or absent
/// and ends with a separator that escapes within it.
private struct DigestBuilder {
    private var hasher = SHA256()
    private(set) var count = 0

    mutating func add(_ fields: [String?]) {
        var bytes: [UInt8] = []
        for field in fields {
            guard let field else {
                bytes.append(0x30)  // "0": absent
                bytes.append(0x1F)
                continue
            }
            bytes.append(0x31)  // "1": present
            for byte in field.utf8 {
                if byte == 0x1F || byte == 0x1E || byte == 0x1B { bytes.append(0x1B) }
                bytes.append(byte)
            }
            bytes.append(0x1F)
        }
        bytes.append(0x1E)
        hasher.update(data: bytes)
        count += 1
    }

    func finish() -> CollectionDigest {
        CollectionDigest(count: count, sha256: hasher.finalize().lowercaseHex)
    }
}
