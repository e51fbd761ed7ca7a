import Hummingbird
import NIOCore
import ParleyChat
import ParleyDomain
import SocketIO

/// The context every Parley handler gets: the connection's address and, behind
/// ``AuthenticationMiddleware``, the signed-in user's session.
public struct ParleyRequestContext: RequestContext, EngineIORequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection (Socket.IO long-polling notices a client that goes away through it).
    public let channel: any Channel
    /// The TCP peer (a reverse proxy's address when there is one).
    public let remoteAddress: SocketAddress?
    /// Set by ``AuthenticationMiddleware``; handlers behind it can rely on it.
    public var identity: Identity?

    /// Who made the request, with which token.
    public struct Identity: Sendable {
        public var session: SessionToken
        public var userID: ObjectID { session.userID }
    }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The signed-in user's session; only call behind ``AuthenticationMiddleware``.
    func requireIdentity() throws -> Identity {
        guard let identity else { throw ParleyError.unauthorized }
        return identity
    }
}
