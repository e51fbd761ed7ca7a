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
    /// Checks the `pid` a recovering client presents, with recovery on.
    let sessionIDs: RecoverySessionID.Signer?

    func authenticate(_ socket: Socket) async throws {
        let token =
            socket.handshake.auth["token"]?.stringValue
            ?? SessionCookie.token(inCookieHeaders: socket.handshake.headers[values: .cookie])
        guard let token, !token.isEmpty else { throw ConnectionRefused("unauthorized") }
        let session: SessionToken
        do {
            session = try await auth.authenticate(token: token)
        } catch {
            throw ConnectionRefused("unauthorized")
        }
        // A session is its user's only: someone else's `pid` gets nothing, whether or not its
        // session could be recovered.
        if let sessionIDs, let pid = socket.handshake.auth["pid"]?.stringValue,
            let claimed = sessionIDs.decode(pid), claimed.user != session.userID
        {
            throw ConnectionRefused("unauthorized")
        }
        if let recovered = socket[data: RecoveredUser.self], recovered != session.userID {
            throw ConnectionRefused("unauthorized")
        }
        if socket.recovered, let previous = socket[data: SocketSession.self] {
            guard previous.userID == session.userID else { throw ConnectionRefused("unauthorized") }
            // A new token for the same user (signed in again): the old one's room is not this socket's.
            if previous.fingerprint != session.fingerprint { socket.leave(RealtimeRooms.token(previous.fingerprint)) }
        }
        socket[data: SocketSession.self] = session
    }
}
