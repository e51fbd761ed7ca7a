import Hummingbird
import Logging
import ParleyChat
import ParleyDomain

/// `/healthz` (the process answers) and `/readyz` (the store answers too).
struct HealthController {
    let store: any ChatStore

    struct Status: ResponseEncodable {
        var status: String
    }

    func addRoutes(to router: Router<ParleyRequestContext>) {
        router.get("healthz") { _, _ in Status(status: "ok") }
        router.get("readyz") { _, context -> Status in
            do {
                try await Deadline.run(within: .seconds(3)) { try await store.checkReadiness() }
                return Status(status: "ready")
            } catch {
                context.logger.warning("Store not ready", metadata: ["error": "\(error)"])
                throw ParleyError(.unavailable, code: "not_ready", message: "The store is not reachable")
            }
        }
    }
}
