import Hummingbird
import HummingbirdAuth
import NIOCore
import ParleyChat
import ParleyDomain
import SocketIO

/// The context every Parley handler gets: the connection's address and, behind
/// ``SessionAuthenticator`` (hummingbird-auth's authenticator middleware), the signed-in user's
/// session. What a handler returns is encoded by ``ParleyResponseEncoder``.
public struct ParleyRequestContext: AuthRequestContext, EngineIORequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection (Socket.IO long-polling notices a client that goes away through it).
    public let channel: any Channel
    /// The TCP peer (a reverse proxy's address when there is one).
    public let remoteAddress: SocketAddress?
    /// Set by ``SessionAuthenticator``; handlers behind it can rely on it.
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

    public var responseEncoder: some ResponseEncoder { ParleyResponseEncoder() }
}
