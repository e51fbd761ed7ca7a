import Hummingbird

/// CORS for exactly the configured origins, with credentials (the session cookie).
///
/// A request from any other origin gets no CORS headers at all, so browsers refuse to hand its
/// response to that page. Preflights from allowed origins are answered directly. Install it
/// outside ``ErrorMiddleware`` so error answers carry the headers too.
struct CORSPolicy<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: Set<String>
    static var allowedMethods: String { "GET, POST, PUT, PATCH, DELETE, OPTIONS" }
    static var allowedHeaders: String { "Content-Type, Authorization" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let origin = request.headers[.origin], allowedOrigins.contains(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var response = Response(status: .noContent)
            response.headers[.accessControlAllowMethods] = Self.allowedMethods
            response.headers[.accessControlAllowHeaders] =
                request.headers[.accessControlRequestHeaders] ?? Self.allowedHeaders
            response.headers[.accessControlMaxAge] = "600"
            addOriginHeaders(to: &response.headers, origin: origin)
            return response
        }
        // Errors are already responses here: ErrorMiddleware sits inside this one.
        var response = try await next(request, context)
        addOriginHeaders(to: &response.headers, origin: origin)
        // The contacts page cursor is a header: pages on an allowed origin may read it.
        response.headers[.accessControlExposeHeaders] = "X-Next-Cursor"
        return response
    }

    private func addOriginHeaders(to headers: inout HTTPFields, origin: String) {
        headers[.accessControlAllowOrigin] = origin
        headers[.accessControlAllowCredentials] = "true"
        headers[values: .vary].append("Origin")
    }
}
