/// Where presence is kept so that every instance agrees on who is online.
///
/// Implementations publish ``ClusterEvent/userOnline(_:)`` and ``ClusterEvent/userOffline(_:)``
/// exactly when a user's first device anywhere connects and their last device anywhere is gone,
/// and take an instance's users offline when the instance stops heartbeating.
public protocol PresenceBackend: Sendable {
    /// `user` has a device on this instance (their first here).
    func register(_ user: ObjectID) async throws
    /// `user` has no device left on this instance.
    func unregister(_ user: ObjectID) async throws
    /// Everyone online on any live instance.
    func onlineUsers() async throws -> Set<ObjectID>
}
