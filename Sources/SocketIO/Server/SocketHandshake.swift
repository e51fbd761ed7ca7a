import HTTPTypes
import NIOCore

/// What a socket knows about how it connected: the Engine.IO request and the CONNECT payload.
public struct SocketHandshake: Sendable {
    /// Headers of the request that opened the connection (cookies, origin, user agent…).
    public var headers: HTTPFields
    /// Query parameters of that request.
    public var query: [String: String]
    /// The CONNECT packet's payload (`auth` in socket.io-client), `{}` when there was none.
    public var auth: SocketValue
    public var remoteAddress: SocketAddress?
    public var time: ContinuousClock.Instant
}
