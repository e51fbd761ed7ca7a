// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyChat
import Synchronization

/// Presence on MongoDB. In single-instance mode it is this process's set of users (as with
/// SQLite); shared, it is kept in three collections every instance agrees on:
///
/// - `parley_instances`: `{_id: instance, heartbeatAt}`, refreshed every heartbeat;
/// - `parley_presence`: `{_id: "instance:user", instance, user}`, one per user per instance;
/// - `parley_online`: `{_id: user, devices}`, how many instances have the user, changed with
///   atomic `$inc`, so exactly one instance sees a user's count go 0 → 1 (and announces
///   `online`) or 1 → 0 (`offline`), without transactions.
///
/// Instances whose heartbeat is older than the TTL are removed by the survivors (whoever deletes
/// the instance's document takes its users offline), never by a TTL index: MongoDB's TTL monitor
/// runs only once a minute.
final class MongoPresence: PresenceBackend {
    static let instances = "parley_instances"
    static let presence = "parley_presence"
    static let online = "parley_online"

    let instanceID = ObjectID().hexString
    private let pool: MongoConnectionPool
    private let bus: MongoEventBus
    private let heartbeat: Duration
    private let ttl: Duration
    private let logger: Logger
    private let local = Mutex<Set<ObjectID>>([])

    init(pool: MongoConnectionPool, bus: MongoEventBus, heartbeat: Duration, ttl: Duration, logger: Logger) {
        self.pool = pool
        self.bus = bus
        self.heartbeat = heartbeat
        self.ttl = ttl
        self.logger = logger
    }

    func register(_ user: ObjectID) async throws {
        let added = local.withLock { $0.insert(user).inserted }
        guard bus.isShared else {
            if added { bus.deliver(.userOnline(user)) }
            return
        }
        let first = try await pool.withConnection { [instanceID] connection in
            let inserted = try connection.insert(
                Self.presence,
                [
                    [
                        "_id": .string("\(instanceID):\(user.hexString)"), "instance": .string(instanceID),
                        "user": .objectID(user),
                    ]
                ]
            )
            if let error = inserted.writeErrors.first {
                if error.isDuplicateKey { return false }  // already registered here
                throw error
            }
            return try Self.count(user, by: 1, connection) == 1
        }
        if first { try await bus.publish(.userOnline(user)) }
    }

    func unregister(_ user: ObjectID) async throws {
        let removed = local.withLock { $0.remove(user) != nil }
        guard bus.isShared else {
            if removed { bus.deliver(.userOffline(user)) }
            return
        }
        let last = try await pool.withConnection { [instanceID] connection in
            try Self.remove(user, of: instanceID, connection)
        }
        if last { try await bus.publish(.userOffline(user)) }
    }

    func onlineUsers() async throws -> Set<ObjectID> {
        guard bus.isShared else { return local.withLock { $0 } }
        let cutoff = Timestamp.now().adding(milliseconds: -ttl.milliseconds)
        return try await pool.withConnection { connection in
            let alive = try connection.find(
                Self.instances, filter: ["heartbeatAt": ["$gte": .date(cutoff)]], projection: ["_id": 1]
            ).compactMap { $0["_id"] }
            let present = try connection.find(
                Self.presence, filter: ["instance": ["$in": .array(alive)]], projection: ["user": 1])
            return Set(present.compactMap { $0["user"]?.objectIDValue })
        }
    }

    /// Heartbeats, removes dead instances and old events until cancelled.
    /// - Parameter onForgotten: called when the others removed this instance (it stopped
    ///   heartbeating for a while): its users must be registered again.
    func maintain(onForgotten: @escaping @Sendable () -> Void) async {
        while !Task.isCancelled {
            do {
                let now = Timestamp.now()
                let alive = try await pool.withConnection { [instanceID] connection in
                    try connection.update(
                        Self.instances, filter: ["_id": .string(instanceID)],
                        update: ["$set": ["heartbeatAt": .date(now)]]
                    ).count > 0
                }
                if !alive {
                    try await pool.withConnection { [instanceID] connection in
                        let result = try connection.insert(
                            Self.instances, [["_id": .string(instanceID), "heartbeatAt": .date(now)]])
                        if let error = result.writeErrors.first, !error.isDuplicateKey { throw error }
                    }
                    onForgotten()
                }
                let reaped = try await reapDeadInstances()
                if reaped > 0 {
                    logger.notice("Removed instances that stopped heartbeating", metadata: ["count": "\(reaped)"])
                }
                try await bus.clean()
            } catch {
                logger.warning("Presence heartbeat failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: heartbeat)
        }
    }

    /// Removes this instance; its users go offline unless connected elsewhere.
    func leave() async {
        guard bus.isShared else { return }
        do {
            try await remove(instance: instanceID, heartbeatBefore: nil)
        } catch {
            logger.warning("Could not remove this instance's presence", metadata: ["error": "\(error)"])
        }
    }

    private func reapDeadInstances() async throws -> Int {
        let cutoff = Timestamp.now().adding(milliseconds: -ttl.milliseconds)
        let dead = try await pool.withConnection { connection in
            try connection.find(
                Self.instances, filter: ["heartbeatAt": ["$lt": .date(cutoff)]], projection: ["_id": 1]
            ).compactMap { $0["_id"]?.stringValue }
        }
        var reaped = 0
        for instance in dead where try await remove(instance: instance, heartbeatBefore: cutoff) {
            reaped += 1
        }
        return reaped
    }

    /// Deletes an instance and takes its users offline. Only the caller whose delete removed
    /// the instance's document does the rest, so two survivors never count a user down twice.
    @discardableResult
    private func remove(instance: String, heartbeatBefore cutoff: Timestamp?) async throws -> Bool {
        let offline: [ObjectID]? = try await pool.withConnection { connection in
            var filter: BSONDocument = ["_id": .string(instance)]
            if let cutoff { filter["heartbeatAt"] = ["$lt": .date(cutoff)] }
            let deleted = try connection.runCommand([
                "delete": .string(Self.instances), "deletes": [["q": .document(filter), "limit": 1]],
            ])
            // This instance's own document may be missing (never heartbeated): clean up anyway.
            guard deleted["n"]?.intValue == 1 || cutoff == nil else { return nil }
            let users = try connection.find(
                Self.presence, filter: ["instance": .string(instance)], projection: ["user": 1]
            ).compactMap { $0["user"]?.objectIDValue }
            return try users.filter { try Self.remove($0, of: instance, connection) }
        }
        guard let offline else { return false }
        for user in offline { try await bus.publish(.userOffline(user)) }
        return true
    }

    /// Removes one user's registration on one instance.
    /// - Returns: whether that was the user's last instance.
    private static func remove(_ user: ObjectID, of instance: String, _ connection: MongoConnection) throws -> Bool {
        let deleted = try connection.runCommand([
            "delete": .string(presence),
            "deletes": [["q": ["_id": .string("\(instance):\(user.hexString)")], "limit": 1]],
        ])
        guard deleted["n"]?.intValue == 1 else { return false }
        guard try count(user, by: -1, connection) <= 0 else { return false }
        _ = try connection.runCommand([
            "delete": .string(online),
            "deletes": [["q": ["_id": .objectID(user), "devices": ["$lte": 0]], "limit": 1]],
        ])
        return true
    }

    /// Changes how many instances have `user`, atomically; returns the new count.
    private static func count(_ user: ObjectID, by change: Int32, _ connection: MongoConnection) throws -> Int {
        let reply = try connection.runCommand([
            "findAndModify": .string(online), "query": ["_id": .objectID(user)],
            "update": ["$inc": ["devices": .int32(change)]], "new": true, "upsert": true,
        ])
        return reply["value"]?.documentValue?["devices"]?.intValue ?? 0
    }
}
#endif
