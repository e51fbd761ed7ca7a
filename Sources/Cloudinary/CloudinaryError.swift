/// Why a Cloudinary call failed, in the terms a caller acts on.
public struct CloudinaryError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Cloudinary refused the request (4xx): bad credentials, a stale or wrong signature, a
        /// file it does not accept. Retrying the same request will not help.
        case rejected(status: Int)
        /// Cloudinary kept failing (5xx) or asking to slow down (420, 429) after every attempt.
        case failed(status: Int)
        /// Cloudinary could not be reached or the connection broke, after every attempt.
        case unreachable
        /// The call did not finish within the configured timeout.
        case timedOut
        /// Cloudinary answered 2xx with a body that is not what its API documents.
        case invalidResponse
    }

    public var kind: Kind
    /// Cloudinary's own message (`{"error":{"message":…}}`) or a description of the failure.
    public var message: String

    public init(_ kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String {
        switch kind {
        case .rejected(let status): "Cloudinary rejected the request (HTTP \(status)): \(message)"
        case .failed(let status): "Cloudinary failed (HTTP \(status)): \(message)"
        case .unreachable: "Cloudinary could not be reached: \(message)"
        case .timedOut: "Cloudinary did not answer in time: \(message)"
        case .invalidResponse: "Cloudinary sent an unexpected answer: \(message)"
        }
    }
}
