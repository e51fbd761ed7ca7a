import Synchronization

/// The first of the results an operation may end with (its own, or a deadline's), for a caller
/// that must not wait for the operation to stop.
final class FirstResult<Value: Sendable>: Sendable {
    private enum State {
        case pending
        case awaited(CheckedContinuation<Result<Value, any Error>, Never>)
        case finished(Result<Value, any Error>)
    }

    private let state = Mutex(State.pending)

    /// Records `result` unless one was recorded already, and hands it to a waiting caller.
    func finish(_ result: Result<Value, any Error>) {
        let waiting = state.withLock { state -> CheckedContinuation<Result<Value, any Error>, Never>? in
            switch state {
            case .pending:
                state = .finished(result)
                return nil
            case .awaited(let continuation):
                state = .finished(result)
                return continuation
            case .finished:
                return nil
            }
        }
        waiting?.resume(returning: result)
    }

    /// The first result recorded, once there is one.
    func result() async -> Result<Value, any Error> {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                if case .finished(let result) = state { return result }
                state = .awaited(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
