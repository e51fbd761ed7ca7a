/// JSON text sent as it is: for values an application already holds in JSON form, which would
/// otherwise be parsed into a ``SocketValue`` only to be written out again.
///
/// Values received from clients never take this form; it exists for sending.
public struct EncodedJSON: Sendable, Hashable, CustomStringConvertible {
    /// Exactly one JSON value, compact or not, with no binary data in it.
    public let text: String

    /// Checks that `text` is one JSON value.
    /// - Throws: an error saying where the JSON is invalid.
    public init(validating text: String) throws {
        _ = try SocketValue.parse(text)
        self.text = text
    }

    /// Takes `text` as one JSON value without checking: for text from a JSON writer the caller
    /// trusts. Anything else would corrupt the packets it is sent in.
    public init(unchecked text: String) {
        self.text = text
    }

    public var description: String { text }
}
