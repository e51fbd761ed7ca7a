import CBcrypt
import HummingbirdBcrypt
import NIOPosix

/// Hashes and verifies passwords with bcrypt, off the event loops.
///
/// bcrypt is slow on purpose (cost 10 takes ~60 ms), so every call runs on a thread pool of its
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
    ///   - cost: bcrypt cost for new hashes (4...31).
    ///   - threadPool: a started pool used only for hashing.
    public init(cost: UInt8 = 10, threadPool: NIOThreadPool) {
        precondition((4...31).contains(cost), "bcrypt cost must be within 4...31")
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
        try await threadPool.runIfActive { Self.verifySynchronously(password, against: hash) }
    }

    /// Spends the time of one verification without a real hash, so that a login for an unknown
    /// email takes as long as one with a wrong password.
    public func verifyAgainstDummy(_ password: String) async throws {
        let dummy = self.dummyHash
        _ = try await threadPool.runIfActive { Self.verifySynchronously(password, against: dummy) }
    }

    static func verifySynchronously(_ password: String, against storedHash: String) -> Bool {
        var hash = Array(storedHash.utf8)
        guard hash.count == 60, hash[0] == UInt8(ascii: "$"), hash[1] == UInt8(ascii: "2") else { return false }
        var passwordBytes = Array(password.utf8.prefix(maximumInputBytes))
        switch hash[2] {
        case UInt8(ascii: "y"):
            hash[2] = UInt8(ascii: "b")
        case UInt8(ascii: "a"):
            // The C implementation keeps the historical 8-bit length wrap for `$2a$`; bcryptjs
            // reads at most 72 bytes. Truncating first gives bcryptjs's result for every length.
            passwordBytes = Array(passwordBytes.prefix(72))
        case UInt8(ascii: "b"):
            break
        default:
            return false
        }
        // A NUL inside the password would end the C string early; no such password can match.
        guard !passwordBytes.contains(0) else { return false }
        passwordBytes.append(0)
        hash.append(0)
        var computed = [CChar](repeating: 0, count: Int(BCRYPT_HASHSPACE) + 1)
        let status = passwordBytes.withUnsafeBufferPointer { key in
            hash.withUnsafeBufferPointer { salt in
                key.withMemoryRebound(to: CChar.self) { key in
                    salt.withMemoryRebound(to: CChar.self) { salt in
                        c_hb_bcrypt_hashpass(key.baseAddress, salt.baseAddress, &computed, Int(BCRYPT_HASHSPACE))
                    }
                }
            }
        }
        guard status == 0 else { return false }
        hash.removeLast()
        return constantTimeEquals(computed.prefix(60).map { UInt8(bitPattern: $0) }, hash)
    }

    /// Compares every byte regardless of where the first difference is.
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }
}
