import ParleyDomain

/// The Socket.IO rooms Parley puts sockets in.
enum RealtimeRooms {
    /// Every device of a user: the user's events go here.
    static func user(_ user: ObjectID) -> String { "user:\(user.hexString)" }

    /// Every device of every member of a group: the group's events go here. Sockets join the
    /// rooms of their user's groups as they connect, and as ``ClusterEvent/groupChanged(_:)``
    /// adds or removes their user, on every instance.
    static func group(_ group: ObjectID) -> String { "group:\(group.hexString)" }

    static func isGroup(_ room: String) -> Bool { room.hasPrefix("group:") }

    /// Every socket opened with one token: logging out ends them.
    static func token(_ fingerprint: String) -> String { "token:\(fingerprint)" }
}
