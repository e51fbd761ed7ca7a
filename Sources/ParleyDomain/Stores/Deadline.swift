/// Bounds how long an operation may take.
public enum Deadline {
    /// The operation did not finish in time.
    public struct Exceeded: Error, Hashable {}

    /// Runs `operation`, throwing ``Exceeded`` if it has not finished after `duration`.
    ///
    /// On timeout the operation is cancelled and this throws at once: the operation goes on alone
    /// until it stops. (postgres-nio stops waiting for a connection when cancelled, but not a
    /// query in flight, which may wait on a lock, or on a vanished peer until TCP gives up.) A
    /// loop that must not start its next operation while one is still running, holding a
    /// connection (a heartbeat), passes `waitingForItToStop`: this then throws once the cancelled
    /// operation has stopped.
    @discardableResult
    public static func run<Result: Sendable>(
        within duration: Duration,
        waitingForItToStop: Bool = false,
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let first = FirstResult<Result>()
        let work = Task {
            do {
                first.finish(.success(try await operation()))
            } catch {
                first.finish(.failure(error))
            }
        }
        let timer = Task {
            guard (try? await Task.sleep(for: duration)) != nil else { return }
            work.cancel()
            first.finish(.failure(Exceeded()))
        }
        defer { timer.cancel() }
        let result = await withTaskCancellationHandler {
            await first.result()
        } onCancel: {
            work.cancel()
        }
        if waitingForItToStop, case .failure(let error) = result, error is Exceeded { await work.value }
        return try result.get()
    }
}
