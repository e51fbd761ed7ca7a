import ParleyDomain
import Synchronization

/// Token-bucket rate limiting by key (a client address, an email), in memory and bounded.
///
/// Each key may make `limit` attempts at once and regains one every `interval / limit`. The table
/// never holds more than `maximumKeys` entries: full buckets are the same as absent ones and are
/// dropped first.
public final class RateLimiter: Sendable {
    public struct Rule: Sendable, Hashable {
        public var limit: Int
        public var interval: Duration

        public init(limit: Int, per interval: Duration) {
            precondition(limit > 0, "a rate limit must allow at least one attempt")
            self.limit = limit
            self.interval = interval
        }

        var secondsPerToken: Double { interval.seconds / Double(limit) }
    }

    public enum Decision: Sendable, Hashable {
        case allowed
        /// Refused; the earliest retry that can succeed is this many seconds away (at least 1).
        case limited(retryAfterSeconds: Int)
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
        /// When the bucket will be full again, i.e. no different from an absent one.
        var fullAt: ContinuousClock.Instant
    }

    private let state = Mutex<[String: Bucket]>([:])
    private let maximumKeys: Int

    public init(maximumKeys: Int = 100_000) {
        self.maximumKeys = maximumKeys
    }

    /// Takes one attempt from every key's bucket if all of them have one; otherwise takes none.
    public func attempt(
        _ keys: [(key: String, rule: Rule)],
        now: ContinuousClock.Instant = .now
    ) -> Decision {
        state.withLock { buckets in
            var refilled: [Bucket] = []
            var wait = 0.0
            for (key, rule) in keys {
                var bucket = buckets[key] ?? Bucket(tokens: Double(rule.limit), updated: now, fullAt: now)
                let elapsed = (now - bucket.updated).seconds
                bucket.tokens = min(Double(rule.limit), bucket.tokens + elapsed / rule.secondsPerToken)
                bucket.updated = now
                if bucket.tokens < 1 {
                    wait = max(wait, (1 - bucket.tokens) * rule.secondsPerToken)
                }
                refilled.append(bucket)
            }
            if wait > 0 {
                // Tolerate floating-point noise: 1.0000000001 s is 1 s, not 2.
                return .limited(retryAfterSeconds: max(1, Int((wait - 1e-6).rounded(.up))))
            }
            if buckets.count + keys.count > maximumKeys {
                Self.prune(&buckets, keys: keys, now: now, limit: maximumKeys)
            }
            for (index, entry) in keys.enumerated() {
                var bucket = refilled[index]
                bucket.tokens -= 1
                let missing = Double(entry.rule.limit) - bucket.tokens
                bucket.fullAt = now + .milliseconds(Int64((missing * entry.rule.secondsPerToken * 1000).rounded(.up)))
                buckets[entry.key] = bucket
            }
            return .allowed
        }
    }

    /// Number of keys currently tracked (for tests and metrics).
    public var trackedKeys: Int { state.withLock { $0.count } }

    private static func prune(
        _ buckets: inout [String: Bucket],
        keys: [(key: String, rule: Rule)],
        now: ContinuousClock.Instant,
        limit: Int
    ) {
        buckets = buckets.filter { $0.value.fullAt > now }
        if buckets.count + keys.count > limit {
            // Under a flood of distinct keys, forget the oldest half rather than grow.
            let sorted = buckets.sorted { $0.value.updated < $1.value.updated }
            for (key, _) in sorted.prefix(buckets.count / 2 + keys.count) {
                buckets[key] = nil
            }
        }
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
