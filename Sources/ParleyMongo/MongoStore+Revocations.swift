// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

extension MongoStore {
    public func revokeToken(_ revocation: TokenRevocation) async throws {
        try await call { connection in
            let result = try connection.insert(MongoDocuments.revokedTokens, [MongoDocuments.document(revocation)])
            // Recorded already: nothing to do.
            if let error = result.writeErrors.first, !error.isDuplicateKey { throw error }
        }
    }

    public func isTokenRevoked(fingerprint: String) async throws -> Bool {
        try await call { connection in
            try !connection.find(MongoDocuments.revokedTokens, filter: ["_id": .string(fingerprint)], limit: 1).isEmpty
        }
    }

    public func revocations(since time: Timestamp) async throws -> [Revocation] {
        try await call { connection in
            var revocations: [Revocation] = []
            for document in try connection.find(
                MongoDocuments.revokedTokens, filter: ["revokedAt": ["$gte": .date(time)]])
            {
                if case .string(let fingerprint)? = document["_id"] {
                    revocations.append(.token(fingerprint: fingerprint))
                }
            }
            for document in try connection.find(
                MongoDocuments.users, filter: ["sessionsRevokedAt": ["$gte": .date(time)]])
            {
                if let user = document["_id"]?.objectIDValue, let upTo = document["sessionsRevokedAt"]?.timestampValue {
                    revocations.append(.sessions(of: user, upTo: upTo))
                }
            }
            return revocations
        }
    }

    public func pruneTokenRevocations(expiredBefore time: Timestamp) async throws {
        _ = try await call { connection in
            try connection.delete(
                MongoDocuments.revokedTokens, filter: ["expiresAt": ["$lt": .date(time)]], multi: true)
        }
    }

    public func exportTokenRevocations(after: String?, unexpiredAt time: Timestamp, limit: Int) async throws
        -> [TokenRevocation]
    {
        try await call { connection in
            var filter: BSONDocument = ["expiresAt": ["$gte": .date(time)]]
            if let after { filter["_id"] = ["$gt": .string(after)] }
            return try connection.find(MongoDocuments.revokedTokens, filter: filter, sort: ["_id": 1], limit: limit)
                .map { document throws(MongoDocumentError) in try MongoDocuments.tokenRevocation(document) }
        }
    }

    public func importTokenRevocations(_ revocations: [TokenRevocation]) async throws -> Int {
        guard !revocations.isEmpty else { return 0 }
        return try await call { connection in
            let result = try connection.insert(
                MongoDocuments.revokedTokens, revocations.map(MongoDocuments.document), ordered: false)
            if let error = result.writeErrors.first(where: { !$0.isDuplicateKey }) { throw error }
            return result.count
        }
    }
}
#endif
