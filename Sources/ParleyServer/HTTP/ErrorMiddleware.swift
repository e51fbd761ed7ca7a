import Hummingbird
import Logging
import NIOCore
import ParleyChat
import ParleyDomain

/// Turns every error into a JSON answer `{"message", "code"}` with the right status.
///
/// ``ParleyError``s carry their own; Hummingbird's errors (unknown route, wrong method, body too
/// large) keep their status; anything else is a bug: logged, answered with a bare 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, request: request, context: context)
        }
    }

    static func response(for error: any Error, request: Request, context: Context) -> Response {
        let (status, code, message, headers) = describe(error, request: request, context: context)
        var response = ParleyResponseEncoder.response(for: ErrorBody(message: message, code: code), status: status)
        for field in headers where field.name != .contentType && field.name != .contentLength {
            response.headers.append(field)
        }
        return response
    }

    private static func describe(_ error: any Error, request: Request, context: Context)
        -> (HTTPResponse.Status, String, String, HTTPFields)
    {
        let logger = context.logger
        switch error {
        case let error as ParleyError:
            var headers = HTTPFields()
            if case .tooManyRequests(let seconds) = error.kind {
                headers[.retryAfter] = String(seconds)
            }
            if error.kind == .unavailable {
                logger.warning("Dependency unavailable", metadata: ["error": "\(error.message)"])
            }
            return (status(for: error.kind), error.code, error.message, headers)
        case let error as any HTTPResponseError:
            let status = error.status
            let code: String
            let message: String
            switch status {
            case .notFound: (code, message) = ("not_found", "Not found")
            case .methodNotAllowed: (code, message) = ("method_not_allowed", "Method not allowed")
            case .contentTooLarge: (code, message) = ("payload_too_large", "The request body is too large")
            case .unauthorized: (code, message) = ("unauthorized", "Unauthorized")
            default:
                code = status.reasonPhrase.lowercased().replacing(" ", with: "_")
                message = (error as? HTTPError)?.body ?? status.reasonPhrase
            }
            let headers = (try? error.response(from: request, context: context).headers) ?? [:]
            return (status, code, message, headers)
        default:
            logger.error("Unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return (.internalServerError, "internal_error", "Internal server error", [:])
        }
    }

    static func status(for kind: ParleyError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .payloadTooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .tooManyRequests: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .badGateway: .badGateway
        case .gatewayTimeout: .gatewayTimeout
        }
    }

    struct ErrorBody: Encodable {
        var message: String
        var code: String
    }
}
