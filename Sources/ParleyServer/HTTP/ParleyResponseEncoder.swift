import Hummingbird
import JSONText
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The request context's response encoder: what a handler returns becomes a JSON answer here,
/// through Hummingbird's `ResponseEncodable`, instead of each handler building its `Response`.
///
/// Values that write their own JSON (``JSONWritable``: messages, users, lists of them; the
/// answers sent most often) go through the hand-written writer; anything else through
/// Foundation's encoder with sorted keys, so every answer is byte-for-byte reproducible.
struct ParleyResponseEncoder: ResponseEncoder {
    func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        Self.response(for: value)
    }

    static func response(for value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let body: ByteBuffer
        if let writable = value as? any JSONWritable {
            var json = JSONWriter(capacity: 512)
            writable.writeJSON(into: &json)
            body = ByteBuffer(bytes: json.bytes)
        } else {
            do {
                body = ByteBuffer(bytes: try foundation.encode(value))
            } catch {
                return Response(status: .internalServerError)
            }
        }
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: body)
        )
    }

    private static var foundation: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
