/// Bounds how long an operation may take.
public enum Deadline {
    /// The operation did not finish in time.
    public struct Exceeded: Error, Hashable {}

    /// Runs `operation`, throwing ``Exceeded`` (and cancelling it) if it has not finished after
    /// `duration`. Returns as soon as either happens, even if the operation ignores cancellation.
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
