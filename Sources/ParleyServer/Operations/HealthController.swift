import Hummingbird
import Logging
import ParleyChat
import ParleyDomain

/// `/healthz` (the process answers) and `/readyz` (the store answers too).
struct HealthController {
    let store: any ChatStore

    struct Status: Encodable {
        var status: String
    }

    func addRoutes(to router: Router<ParleyRequestContext>) {
        router.get("healthz") { _, _ in JSONResponse.make(Status(status: "ok")) }
        router.get("readyz") { _, context in
            do {
                try await Deadline.run(within: .seconds(3)) { try await store.checkReadiness() }
                return JSONResponse.make(Status(status: "ready"))
            } catch {
                context.logger.warning("Store not ready", metadata: ["error": "\(error)"])
                return JSONResponse.make(
                    ErrorMiddleware<ParleyRequestContext>.ErrorBody(
                        message: "The store is not reachable", code: "not_ready"),
                    status: .serviceUnavailable
                )
            }
        }
    }
}
