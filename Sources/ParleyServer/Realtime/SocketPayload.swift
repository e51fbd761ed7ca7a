import ParleyChat
import ParleyDomain
import SocketIO

/// The first argument of a client event, decoded with the REST API's rules and messages: an
/// object whose members are strings (or `null`).
enum SocketPayload {
    static func decode<Request: FormDecodable>(_ type: Request.Type, from arguments: [SocketValue]) throws -> Request {
        guard let payload = arguments.first, case .object = payload else {
            throw ParleyError(.badRequest, code: "invalid_body", message: "The payload must be an object")
        }
        var fields: [String: String] = [:]
        for key in Request.fieldNames {
            switch payload[key] {
            case .string(let string)? where !Request.listFieldNames.contains(key): fields[key] = string
            case .null?, nil: continue
            case .array(let items)? where Request.listFieldNames.contains(key):
                var strings: [String] = []
                for item in items {
                    guard case .string(let string) = item, !string.isEmpty, !string.contains(",") else {
                        throw ParleyError.invalidField(key, "\(key) must be an array of ids")
                    }
                    strings.append(string)
                }
                fields[key] = strings.joined(separator: ",")
            default: throw ParleyError.invalidField(key, "\(key) must be a string")
            }
        }
        return Request(fields: fields)
    }
}
