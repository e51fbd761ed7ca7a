/// A request whose members are all strings (or absent), so that a JSON body, the text fields of
/// a multipart form and a Socket.IO payload fill it alike, with the same rules and errors on
/// every entry point.
public protocol FormDecodable: Sendable {
    /// The names of its members (JSON keys, form field names).
    static var fieldNames: [String] { get }

    /// Members that are lists of strings: a JSON array (or, in a form, one value with the items
    /// separated by commas). They reach ``init(fields:)`` joined with commas.
    static var listFieldNames: Set<String> { get }

    /// The request from its members' values; absent or `null` members are missing.
    init(fields: [String: String])
}

extension FormDecodable {
    public static var listFieldNames: Set<String> { [] }
}
