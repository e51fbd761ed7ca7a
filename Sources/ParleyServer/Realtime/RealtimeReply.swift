import ParleyChat
import ParleyDomain
import SocketIO

/// The acknowledgement shapes of Parley's socket events: `{ok: true, …}` or
/// `{ok: false, error: {code, message}}`, the same codes and messages as the REST API.
enum RealtimeReply {
    static func success(_ fields: [(String, SocketValue)] = []) -> SocketValue {
        SocketValue(members: [("ok", true)] + fields)
    }

    static func failure(_ error: ParleyError) -> SocketValue {
        ["ok": false, "error": ["code": .string(error.code), "message": .string(error.message)]]
    }

    static let internalError = failure(
        ParleyError(.unavailable, code: "internal_error", message: "Internal server error")
    )
}
