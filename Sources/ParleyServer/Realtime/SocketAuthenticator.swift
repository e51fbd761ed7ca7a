import Hummingbird
import ParleyChat
import ParleyDomain
import SocketIO

/// The session a socket was authenticated with, kept on the socket.
enum SocketSession: SocketDataKey {
    typealias Value = SessionToken
}

/// CONNECT middleware: authenticates a socket from `auth.token` or the `jwt` cookie, like the
/// REST API does from `Authorization` or the cookie. A user id in the query string is never
/// trusted; anything but a valid token is refused with `{"message": "unauthorized"}`.
struct SocketAuthenticator: Sendable {
    let auth: AuthService

    func authenticate(_ socket: Socket) async throws {
        let token =
            socket.handshake.auth["token"]?.stringValue
            ?? SessionCookie.token(inCookieHeaders: socket.handshake.headers[values: .cookie])
        guard let token, !token.isEmpty else { throw ConnectionRefused("unauthorized") }
        do {
            socket[data: SocketSession.self] = try await auth.authenticate(token: token)
        } catch {
            throw ConnectionRefused("unauthorized")
        }
    }
}
