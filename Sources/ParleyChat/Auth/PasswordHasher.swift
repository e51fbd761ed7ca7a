import HummingbirdBcrypt
import NIOPosix
import ParleyDomain

/// Hashes and verifies passwords with bcrypt, off the event loops.
///
/// bcrypt is slow on purpose (tens of milliseconds at cost 10), so every call runs on a thread pool of its
/// own: a burst of logins queues here instead of stalling request handling or sharing a pool with
/// the database driver. Hashes written by other bcrypt libraries (`$2a$`, `$2b$`, and PHP's
/// `$2y$`, which is the same algorithm) verify, so users of the Node app keep their passwords.
public struct PasswordHasher: Sendable {
    /// bcrypt cost factor for new hashes (log2 of the rounds).
    public let cost: UInt8
    /// Longest password accepted for verification; bcrypt itself only reads the first 72 bytes.
    public static let maximumInputBytes = 1024
    private let threadPool: NIOThreadPool
    /// A hash of a random string nobody knows, at `cost`, for ``verifyAgainstDummy(_:)``.
    private let dummyHash: String

    /// Computes one hash (to calibrate ``verifyAgainstDummy(_:)``), so create it once at startup.
    /// - Parameters:
    ///   - cost: bcrypt cost for new hashes (4...16).
    ///   - threadPool: a started pool used only for hashing.
    public init(cost: UInt8 = 10, threadPool: NIOThreadPool) {
        precondition((4...Self.maximumStoredCost).contains(Int(cost)), "bcrypt cost must be within 4...16")
        self.cost = cost
        self.threadPool = threadPool
        self.dummyHash = Bcrypt.hash(String(UInt64.random(in: .min ... .max), radix: 36), cost: cost)
    }

    /// A new `$2b$` hash of `password` with a random salt.
    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await threadPool.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Whether `password` matches `hash`, compared in constant time. A malformed hash never matches.
    public func verify(_ password: String, against hash: String) async throws -> Bool {
        // A hash that can never match (malformed, too costly) is refused without waiting for a
        // hashing thread, which other logins may be holding.
        guard Self.verifiableCost(of: Array(hash.utf8)) != nil else { return false }
        return try await threadPool.runIfActive { Self.verifySynchronously(password, against: hash) }
    }

    /// Spends the time of one verification without a real hash, so that a login for an unknown
    /// email takes as long as one with a wrong password.
    public func verifyAgainstDummy(_ password: String) async throws {
        let dummy = self.dummyHash
        _ = try await threadPool.runIfActive { Self.verifySynchronously(password, against: dummy) }
    }

    /// The most expensive stored hash verified: cost 16 takes about 4 s. A stored hash of a higher
    /// cost (days at 31) would hold a hashing thread that long per login, so it never matches.
    public static let maximumStoredCost = 16

    /// Verifies with HummingbirdBcrypt's public API. `$2a$` and `$2y$` hashes are checked as
    /// `$2b$`: the same algorithm, and `$2b$`'s 72-byte truncation is what bcryptjs (the Node
    /// app's library) does for `$2a$` (the C code's `$2a$` would wrap lengths over 255 instead).
    static func verifySynchronously(_ password: String, against storedHash: String) -> Bool {
        let hash = Array(storedHash.utf8)
        guard verifiableCost(of: hash) != nil else { return false }
        // A NUL inside the password would end the C string early; no such password can match.
        guard !password.utf8.contains(0), password.utf8.count <= maximumInputBytes else { return false }
        return Bcrypt.verify(password, hash: "$2b" + String(decoding: hash[3...], as: UTF8.self))
    }

    /// The cost of a `$2a$`/`$2b$`/`$2y$` hash that can be verified (4 to ``maximumStoredCost``);
    /// `nil` for anything else.
    static func verifiableCost(of hash: [UInt8]) -> Int? {
        guard hash.count == 60, hash[0] == UInt8(ascii: "$"), hash[1] == UInt8(ascii: "2"),
            [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(hash[2]),
            hash[3] == UInt8(ascii: "$"), hash[6] == UInt8(ascii: "$"),
            let cost = Int(String(decoding: hash[4..<6], as: UTF8.self)), (4...maximumStoredCost).contains(cost)
        else { return nil }
        return cost
    }

}
