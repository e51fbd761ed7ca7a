/// `operation`'s result, tried again after each failure: for a read that a database coming back
/// from an outage answers shortly.
///
/// Waits `backoff` after the first failure and twice as long after each one since, at most
/// `maximumBackoff`; gives up after `attempts` tries, or when the next try would start after
/// `deadline`, or once cancelled, and throws the last failure (or `CancellationError`).
/// `onFailure` hears each failure with the number of the try that failed.
public func retrying<Result>(
    attempts: Int = .max,
    until deadline: ContinuousClock.Instant? = nil,
    backoff: Duration,
    maximumBackoff: Duration = .seconds(5),
    onFailure: (_ error: any Error, _ attempt: Int) -> Void = { _, _ in },
    _ operation: () async throws -> Result
) async throws -> Result {
    precondition(attempts > 0, "at least one attempt")
    var wait = backoff
    var attempt = 1
    while true {
        do {
            return try await operation()
        } catch {
            onFailure(error, attempt)
            let tooLate = deadline.map { ContinuousClock.now + wait >= $0 } ?? false
            guard attempt < attempts, !tooLate, !Task.isCancelled else { throw error }
            try await Task.sleep(for: wait)
            wait = min(wait * 2, maximumBackoff)
            attempt += 1
        }
    }
}
