import ServiceLifecycle

/// A database backend: users and messages, run as a service for the life of the server.
///
/// `run()` owns the backend's connections (a pool, a LISTEN connection) and returns once graceful
/// shutdown has closed them.
public protocol ChatStore: UserRepository, MessageRepository, Service {
    /// Names the backend and where it is, for logs (never includes a password).
    var displayName: String { get }

    /// Brings the schema up to date. Safe to call twice and from two instances at once.
    func migrate() async throws

    /// Throws when the database cannot answer a trivial query right now.
    func checkReadiness() async throws
}
