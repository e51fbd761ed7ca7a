import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id that is in each of its log lines and in the `X-Request-Id` response
/// header, so an operator can go from a user's failed request to its logs.
///
/// A well-formed `X-Request-Id` from the client or a proxy in front (nginx's `$request_id`) is
/// kept, so one id follows the request through both; anything else is replaced by Hummingbird's
/// own id. Install it outside ``ErrorMiddleware`` so error answers carry the header too.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    static var header: HTTPField.Name { HTTPField.Name("X-Request-Id")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        if let incoming = request.headers[Self.header], Self.isWellFormed(incoming) {
            context.logger[metadataKey: "hb.request.id"] = .string(incoming)
        }
        var response = try await next(request, context)
        response.headers[Self.header] = context.id
        return response
    }

    /// 1 to 128 letters, digits, `-`, `_` or `.`: safe in a header and a log line.
    static func isWellFormed(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2D || byte == 0x5F || byte == 0x2E
            }
    }
}
