import OrderedCollections

/// Thrown by a namespace middleware to refuse a CONNECT: the client gets CONNECT_ERROR with
/// `{"message": message, "data": data}` (`data` left out when `nil`).
public struct ConnectionRefused: Error, Sendable, Hashable {
    public var message: String
    public var data: SocketValue?

    public init(_ message: String, data: SocketValue? = nil) {
        self.message = message
        self.data = data
    }

    var payload: SocketValue {
        var payload: SocketValue = ["message": .string(message)]
        if let data, case .object(var members) = payload {
            members["data"] = data
            payload = .object(members)
        }
        return payload
    }
}

/// Errors of server-to-client acknowledgements.
public enum AcknowledgementError: Error, Sendable, Hashable {
    /// The client did not acknowledge in time.
    case timedOut
    /// The socket disconnected before the client acknowledged.
    case disconnected
    /// The event name is reserved (`connect`, `disconnect`, …) and was not sent.
    case reservedEvent
}
