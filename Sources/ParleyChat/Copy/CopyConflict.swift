import ParleyDomain

/// A source record that cannot be copied as it is.
public struct CopyConflict: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The source record breaks Parley's rules (no email, no content, an id that is not an
        /// ObjectId, …): another application wrote it.
        case invalid(reason: String)
        /// The target already has this email under another id: copying the user would give
        /// one address two accounts.
        case emailTaken(email: String, existingID: ObjectID)
        /// A message whose sender or receiver is neither in the target nor copied to it.
        case missingUser(ObjectID)
    }

    public var collection: CopyCollection
    /// The record's id as the source has it.
    public var id: String
    public var kind: Kind

    public init(collection: CopyCollection, id: String, kind: Kind) {
        self.collection = collection
        self.id = id
        self.kind = kind
    }

    public var description: String {
        let noun =
            switch collection {
            case .users: "user"
            case .messages: "message"
            case .groups: "group"
            case .groupMessages: "group message"
            }
        let record = "\(noun) \(id)"
        switch kind {
        case .invalid(let reason): return "\(record): invalid in the source: \(reason)"
        case .emailTaken(let email, let existingID):
            return "\(record): email \(email) belongs to user \(existingID) in the target"
        case .missingUser(let user): return "\(record): user \(user) is neither in the target nor copied to it"
        }
    }
}
