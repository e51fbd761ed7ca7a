import HTTPTypes
import NIOCore

/// What a socket knows about how it connected: the Engine.IO request and the CONNECT payload.
public struct SocketHandshake: Sendable {
    /// Headers of the request that opened the connection (cookies, origin, user agent…).
    public var headers: HTTPFields {
        get { packedHeaders.fields }
        set { packedHeaders = PackedStringPairs(newValue) }
    }
    /// Query parameters of that request.
    public var query: [String: String] {
        get { packedQuery.dictionary }
        set { packedQuery = PackedStringPairs(newValue) }
    }
    /// The CONNECT packet's payload (`auth` in socket.io-client), `{}` when there was none.
    public var auth: SocketValue
    public var remoteAddress: SocketAddress?
    public var time: ContinuousClock.Instant

    /// Headers and query as the session keeps them, shared with it (see ``PackedStringPairs``).
    var packedHeaders: PackedStringPairs
    var packedQuery: PackedStringPairs

    /// The handshake of a socket on `engine`'s session, sharing its headers and query.
    init(engine: EngineHandshake, auth: SocketValue, time: ContinuousClock.Instant) {
        self.packedHeaders = engine.packedHeaders
        self.packedQuery = engine.packedQuery
        self.auth = auth
        self.remoteAddress = engine.remoteAddress
        self.time = time
    }
}
