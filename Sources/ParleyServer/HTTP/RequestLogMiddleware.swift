import Hummingbird
import Logging

/// Logs every request at `debug` (and failures as Hummingbird's request logger does), without the
/// values of its query: those carry Engine.IO session ids (`sid`), which work like passwords, and
/// may carry tokens. The path and the names of the query's parameters are logged.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        context.logger.debug(
            "Request",
            metadata: [
                "hb.request.method": .string(request.method.rawValue),
                "hb.request.path": .string(request.uri.path),
                "hb.request.query": .string(
                    request.uri.queryParameters.map { String($0.key) }.sorted().joined(separator: ",")),
            ]
        )
        return try await next(request, context)
    }
}
