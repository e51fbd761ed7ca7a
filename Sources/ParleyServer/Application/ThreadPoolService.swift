import NIOPosix
import ServiceLifecycle

/// Keeps a started thread pool alive for the life of the application and shuts it down after
/// the services that use it (it is listed before them).
struct ThreadPoolService: Service {
    let pool: NIOThreadPool

    func run() async throws {
        try? await gracefulShutdown()
        try await pool.shutdownGracefully()
    }
}
