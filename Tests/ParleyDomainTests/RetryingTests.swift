import ParleyDomain
import Synchronization
import Testing

/// ``retrying(attempts:until:backoff:maximumBackoff:onFailure:_:)``: how many tries, and when it
/// gives up. No waits: the backoff is zero.
@Suite("Retrying a read")
struct RetryingTests {
    struct Refused: Error, Equatable {
        let attempt: Int
    }

    /// Runs `retrying` over an operation that fails `failures` times, then answers its try's number.
    static func run(
        failures: Int, attempts: Int = .max, until deadline: ContinuousClock.Instant? = nil
    ) async -> (Result<Int, Refused>, heard: [Int]) {
        let tries = Mutex(0)
        let heard = Mutex<[Int]>([])
        let result: Result<Int, Refused>
        do {
            result = .success(
                try await retrying(
                    attempts: attempts, until: deadline, backoff: .zero,
                    onFailure: { _, attempt in heard.withLock { $0.append(attempt) } }
                ) {
                    let attempt = tries.withLock { tries in
                        tries += 1
                        return tries
                    }
                    if attempt <= failures { throw Refused(attempt: attempt) }
                    return attempt
                })
        } catch let error as Refused {
            result = .failure(error)
        } catch {
            Issue.record("unexpected \(error)")
            result = .failure(Refused(attempt: -1))
        }
        return (result, heard.withLock { $0 })
    }

    @Test func anOperationThatFailsIsTriedAgainUntilItAnswers() async {
        let (result, heard) = await Self.run(failures: 3, attempts: 5)
        #expect(result == .success(4))
        #expect(heard == [1, 2, 3])
    }

    @Test func itGivesUpAfterItsAttemptsWithTheLastFailure() async {
        let (result, heard) = await Self.run(failures: 10, attempts: 3)
        #expect(result == .failure(Refused(attempt: 3)))
        #expect(heard == [1, 2, 3])
    }

    @Test func pastItsDeadlineItTriesOnlyOnce() async {
        // Past the deadline: the first try still runs, and no other.
        let (result, heard) = await Self.run(failures: 10, until: .now - .seconds(1))
        #expect(result == .failure(Refused(attempt: 1)))
        #expect(heard == [1])
        let (answered, _) = await Self.run(failures: 0, until: .now - .seconds(1))
        #expect(answered == .success(1))
    }
}
