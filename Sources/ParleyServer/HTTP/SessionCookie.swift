import Hummingbird
import ParleyChat
import ParleyDomain

/// The `jwt` cookie exactly as the Node app sets it: HttpOnly, SameSite=Strict, Path=/,
/// seven days, Secure in production.
package struct SessionCookie: Sendable {
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
        return token(inCookieHeaders: request.headers[values: .cookie])
    }

    /// The `jwt` cookie's value in these `Cookie` headers (Hummingbird's parsing), if not empty.
    static func token(inCookieHeaders headers: [String]) -> String? {
        guard let cookie = Cookies(from: headers)[name]?.value, !cookie.isEmpty else { return nil }
        return cookie
    }

    /// The token of an `Authorization: Bearer …` header (the scheme in any case, as RFC 9110 says).
    static func bearerToken(in request: Request) -> String? {
        guard let authorization = request.headers[.authorization] else { return nil }
        return bearerToken(in: authorization)
    }

    package static func bearerToken(in authorization: String) -> String? {
        let utf8 = authorization.utf8
        let scheme = "bearer ".utf8
        guard utf8.count > scheme.count,
            zip(utf8, scheme).allSatisfy({ $0 == $1 || ($1 != UInt8(ascii: " ") && $0 | 0x20 == $1) })
        else { return nil }
        let token = utf8.dropFirst(scheme.count).drop { $0 == UInt8(ascii: " ") }
        let end = token.lastIndex { $0 != UInt8(ascii: " ") }.map { utf8.index(after: $0) } ?? token.startIndex
        guard token.startIndex < end else { return nil }
        return String(Substring(authorization.utf8[token.startIndex..<end]))
    }
}
