import ParleyDomain

/// Runs a store operation and turns store-level failures into client-facing errors.
enum StoreCall {
    static func run<Result: Sendable>(_ operation: () async throws -> Result) async throws -> Result {
        let started = ContinuousClock.now
        defer { ChatMetrics.storeCall(took: ContinuousClock.now - started) }
        do {
            return try await operation()
        } catch let error as StoreError {
            switch error {
            case .duplicateEmail:
                throw ParleyError.emailTaken
            case .unknownUser:
                throw ParleyError.userNotFound
            case .cursorNotFound:
                throw ParleyError.invalidField(
                    "cursor", "before/after must be the id of a message in this conversation")
            case .unavailable(let detail):
                throw ParleyError.storeUnavailable(detail)
            }
        }
    }
}
