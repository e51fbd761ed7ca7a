import HTTPTypes
import ParleyChat
import ParleyDomain
import SocketIO

/// Parley's ``EngineSessionBinding`` of a request: the session token it carries (the `jwt`
/// cookie or `Authorization: Bearer`), by fingerprint, and the client's address (the last
/// `X-Forwarded-For` hop when the proxy is trusted).
enum SessionBinding {
    static func of(_ request: EngineRequest, trustProxy: Bool) -> EngineSessionBinding {
        EngineSessionBinding(
            credential: credential(of: request),
            address: ClientAddress.of(headers: request.headers, peer: request.remoteAddress, trustProxy: trustProxy)
        )
    }

    private static func credential(of request: EngineRequest) -> String? {
        if let authorization = request.headers[.authorization],
            let token = SessionCookie.bearerToken(in: authorization)
        {
            return SessionToken.fingerprint(of: token)
        }
        return SessionCookie.token(inCookieHeaders: request.headers[values: .cookie]).map(SessionToken.fingerprint(of:))
    }
}
