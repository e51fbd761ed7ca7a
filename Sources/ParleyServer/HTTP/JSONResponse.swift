import Hummingbird
import JSONText
import NIOCore
import ParleyChat
import ParleyDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes response bodies. Domain types define their own JSON (ids, dates), so the encoder
/// needs no strategies; keys are sorted so that answers are byte-for-byte reproducible.
/// Messages, the answers sent most often, are written by ``Message/writeJSON(into:)``.
enum JSONResponse {
    static func make(_ message: Message, status: HTTPResponse.Status = .ok) -> Response {
        var json = JSONWriter()
        message.writeJSON(into: &json)
        return make(json: json, status: status)
    }

    static func make(_ messages: [Message], status: HTTPResponse.Status = .ok) -> Response {
        var json = JSONWriter(capacity: 64 + messages.count * 256)
        json.beginArray()
        for message in messages { message.writeJSON(into: &json) }
        json.endArray()
        return make(json: json, status: status)
    }

    private static func make(json: JSONWriter, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes))
        )
    }

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            return Response(status: .internalServerError)
        }
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
