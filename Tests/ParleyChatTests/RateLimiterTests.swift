import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("RateLimiter")
struct RateLimiterTests {
    let rule = RateLimiter.Rule(limit: 3, per: .seconds(60))

    @Test func allowsTheLimitThenRefusesWithRetryAfter() {
        let limiter = RateLimiter()
        let start = ContinuousClock.now
        for _ in 0..<3 {
            #expect(limiter.attempt([("ip:1", rule)], now: start) == .allowed)
        }
        #expect(limiter.attempt([("ip:1", rule)], now: start) == .limited(retryAfterSeconds: 20))
        #expect(limiter.attempt([("ip:2", rule)], now: start) == .allowed)
        // One attempt comes back every 20 seconds.
        #expect(limiter.attempt([("ip:1", rule)], now: start + .seconds(19)) == .limited(retryAfterSeconds: 1))
        #expect(limiter.attempt([("ip:1", rule)], now: start + .seconds(20)) == .allowed)
    }

    @Test func takesFromEveryKeyOrFromNone() {
        let limiter = RateLimiter()
        let now = ContinuousClock.now
        let strict = RateLimiter.Rule(limit: 1, per: .seconds(60))
        #expect(limiter.attempt([("ip", rule), ("email", strict)], now: now) == .allowed)
        #expect(limiter.attempt([("ip", rule), ("email", strict)], now: now) == .limited(retryAfterSeconds: 60))
        // The refused attempt took nothing from "ip": two remain.
        #expect(limiter.attempt([("ip", rule)], now: now) == .allowed)
        #expect(limiter.attempt([("ip", rule)], now: now) == .allowed)
        #expect(limiter.attempt([("ip", rule)], now: now) != .allowed)
    }

    @Test func staysBoundedUnderAFloodOfKeys() {
        let limiter = RateLimiter(maximumKeys: 100)
        let now = ContinuousClock.now
        for index in 0..<10_000 {
            _ = limiter.attempt([("ip:\(index)", rule)], now: now)
        }
        #expect(limiter.trackedKeys <= 100)
    }
}
