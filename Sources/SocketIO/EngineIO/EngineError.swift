import HTTPTypes
import JSONText

/// The errors Engine.IO answers to HTTP requests, with the reference server's codes and messages.
public enum EngineError: Int, Error, Sendable, CaseIterable {
    case unknownTransport = 0
    case unknownSessionID = 1
    case badHandshakeMethod = 2
    case badRequest = 3
    case forbidden = 4
    case unsupportedProtocolVersion = 5

    public var message: String {
        switch self {
        case .unknownTransport: "Transport unknown"
        case .unknownSessionID: "Session ID unknown"
        case .badHandshakeMethod: "Bad handshake method"
        case .badRequest: "Bad request"
        case .forbidden: "Forbidden"
        case .unsupportedProtocolVersion: "Unsupported protocol version"
        }
    }

    public var status: HTTPResponse.Status {
        self == .forbidden ? .forbidden : .badRequest
    }

    /// `{"code":n,"message":"…"}`, with `message` overridable (a refused request's reason).
    func body(message: String? = nil) -> String {
        var writer = JSONWriter(capacity: 64)
        writer.beginObject()
        writer.key("code")
        writer.integer(Int64(rawValue))
        writer.member("message", message ?? self.message)
        writer.endObject()
        return writer.text
    }
}
