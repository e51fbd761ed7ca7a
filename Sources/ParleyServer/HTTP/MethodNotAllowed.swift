import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each path of the router answers, for ``MethodNotAllowedMiddleware``: filled once
/// every route is added (middleware is added before the routes it wraps).
final class KnownRoutes: Sendable {
    private let routes = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    func set(_ routes: [(path: RouterPath, method: HTTPRequest.Method)]) {
        self.routes.withLock { $0 = routes }
    }

    /// The methods routes answer at `path`, in a stable order; empty when no route has it.
    ///
    /// As the router does, the route with the most literal segments, earliest, wins:
    /// `/api/message/users` is that path's only route, not also `/api/message/:id`.
    func methods(at path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods = routes.withLock { routes -> [HTTPRequest.Method] in
            let matching = routes.filter { Self.matches($0.path, segments) }
            let specificity = { (route: RouterPath) in Self.specificity(route, segments) }
            guard let best = matching.map({ specificity($0.path) }).max(by: { $0.lexicographicallyPrecedes($1) })
            else { return [] }
            return matching.filter { specificity($0.path) == best }.map(\.method)
        }
        // The router answers HEAD wherever it answers GET (`autoGenerateHeadEndpoints`).
        if methods.contains(.get) { methods.append(.head) }
        let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]
        return order.filter(methods.contains)
    }

    /// 1 for each segment the route names literally, 0 for each it captures, in order.
    private static func specificity(_ route: RouterPath, _ segments: [Substring]) -> [Int] {
        zip(route, segments).map { element, segment in element == segment ? 1 : 0 }
    }

    private static func matches(_ route: RouterPath, _ segments: [Substring]) -> Bool {
        var index = 0
        for element in route {
            if element.description == "**" { return true }  // a recursive wildcard
            guard index < segments.count, element ~= segments[index] else { return false }
            index += 1
        }
        return index == segments.count
    }
}

/// Answers a method a known path does not support with `405 Method Not Allowed` and `Allow`
/// (RFC 9110), and `OPTIONS` on a known path with `204` and `Allow`: Hummingbird's router
/// answers 404 for both. CORS preflights are answered before this, by ``CORSPolicy``.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: KnownRoutes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let methods = routes.methods(at: request.uri.path)
            guard !methods.isEmpty else { throw error }
            let allow = (methods + [.options]).map(\.rawValue).joined(separator: ", ")
            if request.method == .options {
                return Response(status: .noContent, headers: [.allow: allow])
            }
            throw HTTPError(.methodNotAllowed, headers: [.allow: allow])
        }
    }
}
