import NIOPosix
import ParleyDomain
import Testing

@testable import ParleyChat
@testable import ParleyTesting

@Suite("PasswordHasher")
struct PasswordHasherTests {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    @Test func hashesAtTheConfiguredCostAndVerifies() async throws {
        let hasher = PasswordHasher(cost: 10, threadPool: Self.pool)
        let hash = try await hasher.hash("correct horse")
        #expect(hash.hasPrefix("$2b$10$"))
        #expect(hash.count == 60)
        #expect(try await hasher.verify("correct horse", against: hash))
        #expect(try await !hasher.verify("correct hors", against: hash))
    }

    /// Hashes made by other libraries: Python's bcrypt (`$2a$`, `$2b$`), the classic OpenBSD test
    /// vector, and PHP's `$2y$` form of the same hash.
    @Test(arguments: [
        ("node-password", "$2a$10$gH0pkLx3BFrBky2Fox1ofu0OJUdgkOjYcPU.0J9769lqmPyyKgySe"),
        ("node-password", "$2b$10$dNlCbaprhhTrh91ZDOJG5u.hu2hQ2tXOraLDlr1LFVLGvKsyT5NWq"),
        ("node-password", "$2y$10$dNlCbaprhhTrh91ZDOJG5u.hu2hQ2tXOraLDlr1LFVLGvKsyT5NWq"),
        ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
        (String(repeating: "x", count: 80), "$2a$04$gZieiJ24mnTpKzhnpvxfIO79gH.InCsejkcEcKKp67tiV5k/SXdbG"),
    ])
    func verifiesHashesFromOtherLibraries(password: String, hash: String) async throws {
        let hasher = PasswordHasher(cost: 4, threadPool: Self.pool)
        #expect(try await hasher.verify(password, against: hash))
        #expect(try await !hasher.verify("!" + password, against: hash))
    }

    @Test(arguments: [
        "", "not a hash", "$2a$10$short", "$2x$10$gH0pkLx3BFrBky2Fox1ofu0OJUdgkOjYcPU.0J9769lqmPyyKgySe",
        "$2a$99$gH0pkLx3BFrBky2Fox1ofu0OJUdgkOjYcPU.0J9769lqmPyyKgySe",
    ])
    func neverMatchesAMalformedHash(_ hash: String) async throws {
        let hasher = PasswordHasher(cost: 4, threadPool: Self.pool)
        #expect(try await !hasher.verify("anything", against: hash))
    }

    /// A stored hash's cost decides how long verifying takes: one over 16 (a database written by
    /// someone else) would hold a hashing thread for minutes to days per login.
    @Test func refusesStoredHashesCostlierThan16WithoutHashing() async throws {
        let hasher = PasswordHasher(cost: 4, threadPool: Self.pool)
        let costly = "$2b$24$gH0pkLx3BFrBky2Fox1ofu0OJUdgkOjYcPU.0J9769lqmPyyKgySe"
        let started = ContinuousClock.now
        #expect(try await !hasher.verify("node-password", against: costly))
        #expect(ContinuousClock.now - started < .seconds(1))
    }
}
