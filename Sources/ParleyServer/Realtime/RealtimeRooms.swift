import ParleyDomain

/// The Socket.IO rooms Parley puts sockets in.
enum RealtimeRooms {
    /// Every device of a user: the user's events go here.
    static func user(_ user: ObjectID) -> String { "user:\(user.hexString)" }

    /// Every socket opened with one token: logging out ends them.
    static func token(_ fingerprint: String) -> String { "token:\(fingerprint)" }
}
