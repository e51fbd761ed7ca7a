/// A configuration value that stops startup, naming the key so the operator knows what to fix.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let message: String

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}
