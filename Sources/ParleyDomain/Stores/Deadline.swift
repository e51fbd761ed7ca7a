/// Bounds how long an operation may take.
public enum Deadline {
    /// The operation did not finish in time.
    public struct Exceeded: Error, Hashable {}

    /// Runs `operation`, throwing ``Exceeded`` if it has not finished after `duration`.
    ///
    /// On timeout the operation is cancelled and this returns once it has stopped; the drivers
    /// used here (postgres-nio waiting for a connection, a query in flight) stop on cancellation.
    @discardableResult
    public static func run<Result: Sendable>(
        within duration: Duration,
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: duration)
                throw Exceeded()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw Exceeded() }
            return first
        }
    }
}
