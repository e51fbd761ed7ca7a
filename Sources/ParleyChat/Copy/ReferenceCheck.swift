import ParleyDomain

/// Finds messages whose sender or receiver will not be in the target.
///
/// When the source guarantees references, only users left behind (conflicts) can be missing.
/// Otherwise each batch's users are looked up, in the target and then the source, with a bounded
/// cache of users already seen.
struct ReferenceCheck {
    let source: any ChatExporter
    /// `nil` when the target has no schema yet (a dry run into a new database).
    let target: (any ChatImporter)?
    let sourceEnforcesReferences: Bool
    let leftBehind: Set<ObjectID>
    /// Whether the users were copied already, so that only the target counts.
    let usersCopied: Bool
    private var present: Set<ObjectID> = []

    /// Users remembered as present before the cache starts over.
    private static let cacheLimit = 100_000

    init(
        source: any ChatExporter,
        target: (any ChatImporter)?,
        sourceEnforcesReferences: Bool,
        leftBehind: Set<ObjectID>,
        usersCopied: Bool
    ) {
        self.source = source
        self.target = target
        self.sourceEnforcesReferences = sourceEnforcesReferences
        self.leftBehind = leftBehind
        self.usersCopied = usersCopied
    }

    mutating func acceptableMessages(_ batch: [ExportedRecord<Message>]) async throws -> ([Message], [CopyConflict]) {
        var messages: [Message] = []
        var conflicts: [CopyConflict] = []
        for record in batch {
            switch record {
            case .valid(let message)
            where [message.text, message.image].contains(where: { $0?.contains("\u{0}") == true }):
                // Parley never accepts one, and PostgreSQL cannot store one: another application's.
                conflicts.append(
                    CopyConflict(
                        collection: .messages, id: message.id.hexString,
                        kind: .invalid(reason: "text or image contains a NUL character")))
            case .valid(let message): messages.append(message)
            case .invalid(let id, let reason):
                conflicts.append(CopyConflict(collection: .messages, id: id, kind: .invalid(reason: reason)))
            }
        }
        if !sourceEnforcesReferences {
            try await lookUp(Set(messages.flatMap { [$0.senderID, $0.receiverID] }))
        }
        messages.removeAll { message in
            guard let missing = [message.senderID, message.receiverID].first(where: { !isPresent($0) }) else {
                return false
            }
            conflicts.append(CopyConflict(collection: .messages, id: message.id.hexString, kind: .missingUser(missing)))
            return true
        }
        return (messages, conflicts)
    }

    private func isPresent(_ user: ObjectID) -> Bool {
        !leftBehind.contains(user) && (sourceEnforcesReferences || present.contains(user))
    }

    private mutating func lookUp(_ users: Set<ObjectID>) async throws {
        var unknown = users.subtracting(present)
        guard !unknown.isEmpty else { return }
        if present.count + unknown.count > Self.cacheLimit { present.removeAll(keepingCapacity: true) }
        if let target {
            let found = try await target.users(withIDs: Array(unknown)).keys
            present.formUnion(found)
            unknown.subtract(found)
        }
        // Not in the target yet (checking before the copy): copied from the source if it has them.
        if !usersCopied, !unknown.isEmpty {
            present.formUnion(try await source.users(withIDs: Array(unknown)).keys)
        }
    }
}
