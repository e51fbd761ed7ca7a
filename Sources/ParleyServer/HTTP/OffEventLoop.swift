import Hummingbird

/// Runs the routes behind it, and the encoding of their answers, on Swift concurrency's global
/// executor instead of their connection's event loop.
///
/// HTTP connections run on their event loops (``EngineIOHTTPChannel``), which also carry other
/// connections, sockets and database connections. Most answers are small and bounded; these are
/// not: the contact list without a `limit` is every user, the sidebar every conversation and
/// group, a group every member (up to `GROUP_MAX_MEMBERS`). Reading and encoding one of those
/// (megabytes for a large deployment) would stall everything else on that loop for as long.
///
/// With a body limit (``init(forBodiesOver:)``) it moves only requests whose body may be larger
/// than that: an image sent as a data URI in a JSON body (up to `MAX_IMAGE_BYTES`, about 7.7 MB
/// of base64 by default) took tens of milliseconds to decode and check, while the everyday small
/// request stays on its loop, where it needs no hop.
struct OffEventLoop<Context: RequestContext>: RouterMiddleware {
    /// Moves only requests that declare a longer body or one of unknown length (chunked); `nil`
    /// moves every request.
    let bodyLimit: Int?

    /// Moves every request.
    init() { bodyLimit = nil }

    /// Moves requests whose body may be longer than `limit` bytes.
    init(forBodiesOver limit: Int) { bodyLimit = limit }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        try await offEventLoop(if: bodyLimit.map { Self.body(of: request, mayExceed: $0) } ?? true) {
            try await next(request, context)
        }
    }

    static func body(of request: Request, mayExceed limit: Int) -> Bool {
        if let length = request.headers[.contentLength] {
            return Int(length).map { $0 > limit } ?? true
        }
        return request.headers[.transferEncoding] != nil
    }
}

/// The size above which an image-carrying request or event is decoded off the event loops (see
/// ``OffEventLoop``): an everyday message is far smaller, an image data URI far larger.
let largeBodyBytes = 64 * 1024

/// Runs `body` on Swift concurrency's global executor if `condition` holds, else where the caller
/// runs (on its connection's event loop, for a request or a socket's handler): for work that is
/// long only sometimes, such as decoding an image sent inline.
func offEventLoop<Result: Sendable>(
    if condition: Bool, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Result
) async rethrows -> Result {
    guard condition else { return try await body() }
    return try await withTaskExecutorPreference(globalConcurrentExecutor) { try await body() }
}
