import ParleyDomain

/// Tells which users are online right now (on any instance).
public protocol PresenceReader: Sendable {
    func onlineUsers() async -> Set<ObjectID>
}

/// Presence for a server without realtime: nobody is online.
public struct NoPresence: PresenceReader {
    public init() {}
    public func onlineUsers() async -> Set<ObjectID> { [] }
}
