import Hummingbird
import JSONText
import NIOCore
import ParleyChat
import ParleyDomain

/// Decodes JSON request bodies and reports every way one can be wrong as a 4xx naming the
/// field: not JSON (415), too large (413), malformed (400 `invalid_json`), not an object
/// (400 `invalid_body`), a field of the wrong type (400 `invalid_<field>`).
enum JSONBody {
    /// Reads a JSON body whose members are strings.
    /// - Parameter limit: the largest body accepted, in bytes.
    static func decodeFields<Body: FormDecodable>(
        _ type: Body.Type,
        from request: Request,
        limit: Int
    ) async throws -> Body {
        if let contentType = request.headers[.contentType], !isJSON(contentType) {
            throw ParleyError(
                .unsupportedMediaType,
                code: "unsupported_media_type",
                message: "Send a JSON body with Content-Type: application/json"
            )
        }
        return try decodeFields(type, from: try await collect(request, limit: limit))
    }

    /// Decodes a body that may also come as `multipart/form-data` (its file part is then the
    /// image, which JSON carries as a data URI).
    /// - Returns: the body, and the multipart file part if there was one.
    static func decodeForm<Body: FormDecodable>(
        _ type: Body.Type,
        from request: Request,
        limit: Int
    ) async throws -> (body: Body, file: ByteBuffer?) {
        guard let contentType = request.headers[.contentType], MultipartForm.accepts(contentType) else {
            if let contentType = request.headers[.contentType], !isJSON(contentType) {
                throw ParleyError(
                    .unsupportedMediaType,
                    code: "unsupported_media_type",
                    message: "Send JSON (Content-Type: application/json) or multipart/form-data"
                )
            }
            return (try decodeFields(type, from: try await collect(request, limit: limit)), nil)
        }
        let form = try await MultipartForm.read(request, limit: limit, fieldNames: Set(Body.fieldNames))
        return (Body(fields: form.fields), form.file)
    }

    /// The image a form sends, as its file part or as a data URI in its text field `field`, never
    /// both: a request with both is ambiguous and refused (400 `invalid_<field>`).
    static func image(file: ByteBuffer?, dataURI: String?, field: String) throws -> ImageInput? {
        switch (file, dataURI) {
        case (let file?, nil): return .bytes(file)
        case (nil, let dataURI?): return .dataURI(dataURI)
        case (nil, nil): return nil
        case (.some, .some):
            throw ParleyError.invalidField(field, "Send the \(field) as a file or as a data URI, not both")
        }
    }

    /// Reads the whole body, refusing early (by `Content-Length`) or as soon as it passes `limit`.
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw tooLarge(limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge(limit)
        }
    }

    /// Decodes a body whose members are all strings, with the errors ``decode(_:from:)`` gives:
    /// written by hand because sending a message decodes one on every request.
    static func decodeFields<Body: FormDecodable>(_ type: Body.Type, from buffer: ByteBuffer) throws -> Body {
        if buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return Body(fields: [:])
        }
        var fields: [String: String] = [:]
        var wrongType: String?
        var listError: String?
        var isObject = true
        do {
            try buffer.withUnsafeReadableBytes { bytes throws(JSONReader.Malformed) in
                try JSONReader.read(bytes) { reader throws(JSONReader.Malformed) in
                    guard try reader.nextKind() == .object else {
                        isObject = false
                        try reader.skipValue()
                        try reader.finish()
                        return
                    }
                    try reader.readObject { reader, key throws(JSONReader.Malformed) in
                        guard Body.fieldNames.contains(key) else { return try reader.skipValue() }
                        switch try reader.nextKind() {
                        case .string where !Body.listFieldNames.contains(key):
                            fields[key] = try reader.readString()
                        case .null:
                            fields[key] = try reader.readStringOrNull()
                        case .array where Body.listFieldNames.contains(key):
                            var items: [String] = []
                            var wellFormed = true
                            try reader.readArray { reader throws(JSONReader.Malformed) in
                                if try reader.nextKind() == .string {
                                    let item = try reader.readString()
                                    if item.isEmpty || item.contains(",") { wellFormed = false }
                                    items.append(item)
                                } else {
                                    try reader.skipValue()
                                    wellFormed = false
                                }
                            }
                            if wellFormed {
                                fields[key] = items.joined(separator: ",")
                            } else if listError == nil {
                                listError = key
                            }
                        default:
                            try reader.skipValue()
                            if wrongType == nil { wrongType = key }
                        }
                    }
                    try reader.finish()
                }
            }
        } catch {
            throw ParleyError(.badRequest, code: "invalid_json", message: "The body is not valid JSON")
        }
        guard isObject else {
            throw ParleyError(.badRequest, code: "invalid_body", message: "The body must be a JSON object")
        }
        if let wrongType {
            let kind = Body.listFieldNames.contains(wrongType) ? "an array of strings" : "a string"
            throw ParleyError.invalidField(wrongType, "\(wrongType) must be \(kind)")
        }
        if let listError { throw ParleyError.invalidField(listError, "\(listError) must be an array of ids") }
        return Body(fields: fields)
    }

    private static func isJSON(_ contentType: String) -> Bool {
        let mediaType = MultipartForm.mediaType(contentType)
        return mediaType == "application/json" || mediaType.hasSuffix("+json")
    }

    static func tooLarge(_ limit: Int) -> ParleyError {
        ParleyError(
            .payloadTooLarge,
            code: "payload_too_large",
            message: "The request body is larger than \(limit / 1024 / 1024) MB"
        )
    }
}
