import Hummingbird

/// Runs the routes behind it, and the encoding of their answers, on Swift concurrency's global
/// executor instead of their connection's event loop.
///
/// HTTP connections run on their event loops (``EngineIOHTTPChannel``), which also carry other
/// connections, sockets and database connections. Most answers are small and bounded; these are
/// not: the contact list without a `limit` is every user, the sidebar every conversation and
/// group, a group every member (up to `GROUP_MAX_MEMBERS`). Reading and encoding one of those
/// (megabytes for a large deployment) would stall everything else on that loop for as long.
struct OffEventLoop<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        try await withTaskExecutorPreference(globalConcurrentExecutor) {
            try await next(request, context)
        }
    }
}
