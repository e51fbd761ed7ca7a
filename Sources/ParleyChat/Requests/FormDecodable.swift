/// A request whose members are all strings (or absent), so that a JSON body, the text fields of
/// a multipart form and a Socket.IO payload fill it alike, with the same rules and errors on
/// every entry point.
public protocol FormDecodable: Sendable {
    /// The names of its members (JSON keys, form field names).
    static var fieldNames: [String] { get }

    /// The request from its members' values; absent or `null` members are missing.
    init(fields: [String: String])
}
