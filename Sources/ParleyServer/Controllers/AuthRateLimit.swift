import HTTPTypes
import Hummingbird
import ParleyChat
import ParleyDomain

/// Limits sign-up and log-in attempts (429 + `Retry-After`) without letting anyone lock a user out.
///
/// - Per client address: every attempt (`AUTH_RATE_LIMIT`, 30 a minute).
/// - Per address and email pair: a password guesser on one address (`AUTH_EMAIL_RATE_LIMIT`,
///   10 a minute). A limit per email alone let anyone lock a user out with ten failed logins a
///   minute; the pair leaves the user's own addresses free.
/// - Per email from every address, slower (`AUTH_EMAIL_GLOBAL_RATE_LIMIT`, 1,000 an hour):
///   guessing spread over many addresses. It is above what one address can reach under the pair
///   limit (610 an hour), so one address alone cannot lock the user out with it either.
///
/// Keys hold the normalised email; one longer than any valid email gets no email key (the
/// request fails its validation anyway), so no request can make the table hold megabytes.
struct AuthRateLimit: Sendable {
    let limiter: RateLimiter
    let perAddress: RateLimiter.Rule
    let perAddressAndEmail: RateLimiter.Rule
    let perEmail: RateLimiter.Rule
    let trustProxy: Bool

    func check(request: Request, context: ParleyRequestContext, email: String?) throws {
        let address = ClientAddress.of(request, context: context, trustProxy: trustProxy)
        if case .limited(let seconds) = limiter.attempt(keys(address: address, email: email)) {
            throw ParleyError(
                .tooManyRequests(retryAfterSeconds: seconds),
                code: "rate_limited",
                message: "Too many attempts; try again in \(seconds) seconds"
            )
        }
    }

    /// The buckets an attempt from `address` for `email` takes from.
    func keys(address: String, email: String?) -> [(key: String, rule: RateLimiter.Rule)] {
        var keys = [(key: "address:\(address)", rule: perAddress)]
        if let email {
            let normalized = Validation.normalizedEmail(email)
            if normalized.utf8.count <= Validation.maximumEmailLength {
                keys.append((key: "pair:\(address) \(normalized)", rule: perAddressAndEmail))
                keys.append((key: "email:\(normalized)", rule: perEmail))
            }
        }
        return keys
    }
}
