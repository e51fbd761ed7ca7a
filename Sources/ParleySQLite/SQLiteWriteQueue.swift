import ParleyDomain
import SQLiteNIO

/// Runs write operations one at a time on the writer connection.
///
/// SQLite has one writer, and a transaction on a shared connection would swallow any statement
/// another task issued meanwhile. Every write therefore becomes a job in this queue, which the
/// store's `run()` drains in order: transactions stay whole and writes never interleave.
final class SQLiteWriteQueue: Sendable {
    private struct Job: Sendable {
        let work: @Sendable (SQLiteConnection) async -> Void
    }

    private let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation

    init() {
        (jobs, continuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// Runs `body` with the writer connection once every earlier job has finished.
    func perform<Result: Sendable>(
        _ body: @escaping @Sendable (SQLiteConnection) async throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { (resumption: CheckedContinuation<Result, any Error>) in
            let job = Job { connection in
                do {
                    resumption.resume(returning: try await body(connection))
                } catch {
                    resumption.resume(throwing: error)
                }
            }
            if case .terminated = continuation.yield(job) {
                resumption.resume(throwing: StoreError.unavailable("The SQLite store is shut down"))
            }
        }
    }

    /// Drains jobs until ``finish()``; jobs queued before then still run.
    func run(on connection: SQLiteConnection) async {
        for await job in jobs {
            await job.work(connection)
        }
    }

    /// Stops accepting jobs.
    func finish() {
        continuation.finish()
    }
}
