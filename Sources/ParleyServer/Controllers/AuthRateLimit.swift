import HTTPTypes
import Hummingbird
import ParleyChat

/// Limits sign-up and log-in attempts per client address and per email (429 + `Retry-After`).
struct AuthRateLimit: Sendable {
    let limiter: RateLimiter
    let perAddress: RateLimiter.Rule
    let perEmail: RateLimiter.Rule
    let trustProxy: Bool

    func check(request: Request, context: ParleyRequestContext, email: String?) throws {
        var keys = [
            (key: "address:\(ClientAddress.of(request, context: context, trustProxy: trustProxy))", rule: perAddress)
        ]
        if let email {
            keys.append((key: "email:\(Validation.normalizedEmail(email))", rule: perEmail))
        }
        if case .limited(let seconds) = limiter.attempt(keys) {
            throw ParleyError(
                .tooManyRequests(retryAfterSeconds: seconds),
                code: "rate_limited",
                message: "Too many attempts; try again in \(seconds) seconds"
            )
        }
    }
}

/// The address a request came from: the TCP peer, or (behind a trusted proxy) the last
/// `X-Forwarded-For` entry that proxy appended.
enum ClientAddress {
    static func of(_ request: Request, context: ParleyRequestContext, trustProxy: Bool) -> String {
        if trustProxy, let forwarded = request.headers[.xForwardedFor],
            let last = forwarded.split(separator: ",").last
        {
            let address = last.trimmingCharacters(in: " ")
            if !address.isEmpty { return address }
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(self).trimmingCharacters(in: set)
    }
}
