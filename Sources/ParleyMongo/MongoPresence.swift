// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyDomain
import Synchronization

/// Presence on MongoDB. In single-instance mode it is this process's set of users (as with
/// SQLite); shared, it is two collections every instance agrees on:
///
/// - `parley_instances`: `{_id: instance, heartbeatAt}`, refreshed every heartbeat with the
///   server's clock (instances' clocks may differ);
/// - `parley_online`: `{_id: user, instances: [instance, …]}`, changed only with atomic
///   `$addToSet`/`$pull` that return the document as it was. The instance that turns `[]` into
///   `[itself]` announces `online`; the one that turns `[x]` into `[]` announces `offline`. Each
///   change is one atomic write and repeating it changes nothing, so a crash or a retry can never
///   leave a count wrong, and two instances never announce the same transition.
///
/// Instances whose heartbeat is older than the TTL, or that are referenced but have no document
/// (an instance that died half-way), are removed by the survivors, never by a TTL index (MongoDB's
/// TTL monitor runs once a minute): first from every user, then their own document. An instance
/// the others removed while it was alive (a long pause) comes back under a new id.
final class MongoPresence: PresenceBackend {
    static let instances = "parley_instances"
    static let online = "parley_online"

    private let instance = Mutex(ObjectID().hexString)
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

    var instanceID: String { instance.withLock { $0 } }

    func register(_ user: ObjectID) async throws {
        let added = local.withLock { $0.insert(user).inserted }
        guard bus.isShared else {
            if added { bus.deliver(.userOnline(user)) }
            return
        }
        let instanceID = self.instanceID
        let first = try await pool.withConnection { connection in
            let before = try connection.findAndModify(
                Self.online, filter: ["_id": .objectID(user)],
                update: ["$addToSet": ["instances": .string(instanceID)]], returnNew: false, upsert: true)
            return (before?["instances"]?.arrayValue ?? []).isEmpty
        }
        if first { try await bus.publish(.userOnline(user)) }
    }

    func unregister(_ user: ObjectID) async throws {
        let removed = local.withLock { $0.remove(user) != nil }
        guard bus.isShared else {
            if removed { bus.deliver(.userOffline(user)) }
            return
        }
        let instanceID = self.instanceID
        let last = try await pool.withConnection { connection in
            try Self.remove(instanceID, from: user, connection)
        }
        if last { try await bus.publish(.userOffline(user)) }
    }

    func onlineUsers() async throws -> Set<ObjectID> {
        guard bus.isShared else { return local.withLock { $0 } }
        let ttl = self.ttl
        return try await pool.withConnection { connection in
            let cutoff = try MongoDeployment.serverTime(connection).adding(milliseconds: -ttl.milliseconds)
            let alive = try connection.find(
                Self.instances, filter: ["heartbeatAt": ["$gte": .date(cutoff)]], projection: ["_id": 1]
            ).compactMap { $0["_id"] }
            let present = try connection.find(
                Self.online, filter: ["instances": ["$in": .array(alive)]], projection: ["_id": 1])
            return Set(present.compactMap { $0["_id"]?.objectIDValue })
        }
    }

    /// Writes this instance's first heartbeat, before it registers anyone in the database.
    func start() async throws {
        let instanceID = self.instanceID
        try await pool.withConnection { connection in
            let now = try MongoDeployment.serverTime(connection)
            _ = try connection.update(
                Self.instances, filter: ["_id": .string(instanceID)],
                update: ["$set": ["heartbeatAt": .date(now)]], upsert: true)
        }
    }

    /// Heartbeats, removes dead instances and old events until cancelled.
    /// - Parameter onForgotten: called when the others removed this instance (it stopped
    ///   heartbeating for a while): it now has a new id, and its users must be registered again.
    func maintain(onForgotten: @escaping @Sendable () -> Void) async {
        while !Task.isCancelled {
            do {
                let instanceID = self.instanceID
                let alive = try await pool.withConnection { connection in
                    let now = try MongoDeployment.serverTime(connection)
                    return try connection.update(
                        Self.instances, filter: ["_id": .string(instanceID)],
                        update: ["$set": ["heartbeatAt": .date(now)]]
                    ).count > 0
                }
                if !alive {
                    logger.warning("Other instances took this one for dead; joining again under a new id")
                    instance.withLock { $0 = ObjectID().hexString }
                    try await start()
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

    /// Removes this instance (once its heartbeat has stopped); its users go offline unless
    /// connected elsewhere.
    func leave() async {
        guard bus.isShared else { return }
        do {
            try await remove(instance: instanceID, ifHeartbeatBefore: nil)
        } catch {
            logger.warning("Could not remove this instance's presence", metadata: ["error": "\(error)"])
        }
    }

    private func reapDeadInstances() async throws -> Int {
        let ttl = self.ttl
        let (dead, cutoff) = try await pool.withConnection { connection in
            let cutoff = try MongoDeployment.serverTime(connection).adding(milliseconds: -ttl.milliseconds)
            let stale = try connection.find(
                Self.instances, filter: ["heartbeatAt": ["$lt": .date(cutoff)]], projection: ["_id": 1]
            ).compactMap { $0["_id"]?.stringValue }
            // Instances users still point at whose document is gone: one died while it was
            // being removed.
            let referenced =
                try connection.runCommand(["distinct": .string(Self.online), "key": "instances"])[
                    "values"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let known = try connection.find(
                Self.instances, filter: ["_id": ["$in": .array(referenced.map { .string($0) })]], projection: ["_id": 1]
            ).compactMap { $0["_id"]?.stringValue }
            return (Set(stale).union(Set(referenced).subtracting(known)), cutoff)
        }
        for instance in dead {
            try await remove(instance: instance, ifHeartbeatBefore: cutoff)
        }
        return dead.count
    }

    /// Takes `instance` out of every user (announcing those it was the last instance of), then
    /// deletes its document, unless it heartbeated since `cutoff`.
    private func remove(instance: String, ifHeartbeatBefore cutoff: Timestamp?) async throws {
        let offline = try await pool.withConnection { connection in
            let users = try connection.find(
                Self.online, filter: ["instances": .string(instance)], projection: ["_id": 1]
            ).compactMap { $0["_id"]?.objectIDValue }
            return try users.filter { try Self.remove(instance, from: $0, connection) }
        }
        for user in offline { try await bus.publish(.userOffline(user)) }
        try await pool.withConnection { connection in
            var filter: BSONDocument = ["_id": .string(instance)]
            if let cutoff { filter["heartbeatAt"] = ["$lt": .date(cutoff)] }
            try connection.delete(Self.instances, filter: filter)
        }
    }

    /// Takes `instance` out of `user`'s instances.
    /// - Returns: whether it was the last one (the user is now offline everywhere).
    private static func remove(_ instance: String, from user: ObjectID, _ connection: MongoConnection) throws -> Bool {
        let before = try connection.findAndModify(
            online, filter: ["_id": .objectID(user)], update: ["$pull": ["instances": .string(instance)]],
            returnNew: false)
        let instances = before?["instances"]?.arrayValue ?? []
        guard instances == [.string(instance)] else { return false }
        try connection.delete(online, filter: ["_id": .objectID(user), "instances": ["$size": 0]])
        return true
    }
}
#endif
