import Hummingbird
import ParleyChat

/// The `jwt` cookie exactly as the Node app sets it: HttpOnly, SameSite=Strict, Path=/,
/// seven days, Secure in production.
struct SessionCookie: Sendable {
    static let name = "jwt"
    let secure: Bool

    func issue(_ token: SessionToken) -> Cookie {
        let maxAge = Int((token.expiresAt.millisecondsSince1970 - token.issuedAt.millisecondsSince1970) / 1000)
        return Cookie(
            name: Self.name,
            value: token.token,
            expires: token.expiresAt.date,
            maxAge: maxAge,
            path: "/",
            secure: secure,
            httpOnly: true,
            sameSite: .strict
        )
    }

    func clear() -> Cookie {
        Cookie(
            name: Self.name,
            value: "",
            expires: Timestamp(millisecondsSince1970: 0).date,
            maxAge: 0,
            path: "/",
            secure: secure,
            httpOnly: true,
            sameSite: .strict
        )
    }

    /// The token a request carries: `Authorization: Bearer` first, else the `jwt` cookie.
    static func token(in request: Request) -> String? {
        if let token = bearerToken(in: request) { return token }
        guard let cookie = request.cookies[name]?.value, !cookie.isEmpty else { return nil }
        return cookie
    }

    /// The token of an `Authorization: Bearer …` header (the scheme in any case, as RFC 9110 says).
    static func bearerToken(in request: Request) -> String? {
        guard let authorization = request.headers[.authorization] else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: " ")
        return token.isEmpty ? nil : token
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(self).trimmingCharacters(in: set)
    }
}
