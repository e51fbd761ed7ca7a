import Foundation
import HTTPTypes
import Hummingbird
import ParleyChat
import ParleyDomain

/// Stands in front of Hummingbird's `FileMiddleware` for `/uploads/`: only a plain image file
/// name reaches it, and never a `Range`.
///
/// - A name is letters, digits, `-`, `_` and single dots between them, ending in an image
///   extension; anything else is `404` before the file system is asked. Methods other than GET
///   and HEAD are `405`. A `%00` used to reach the
///   file system (`name.png%00.txt` served the image: C strings end at the NUL), and `/uploads/.`
///   answered a redirect echoing the path.
/// - `Range` and `If-Range` are dropped, so the whole image is served: FileMiddleware 2.28.1
///   answers a range that starts past the end with a negative `Content-Length`. Images are small
///   and clients do not ask for parts of them.
struct UploadsGuard<Context: RequestContext>: RouterMiddleware {
    static var prefix: String { "/uploads" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        guard path == Self.prefix || path.hasPrefix(Self.prefix + "/") else {
            return try await next(request, context)
        }
        let name = String(path.dropFirst(Self.prefix.count + 1)).removingPercentEncoding ?? ""
        guard Self.isImageFileName(name) else {
            throw ParleyError(.notFound, code: "not_found", message: "Not found")
        }
        guard request.method == .get || request.method == .head else {
            let allow = "GET, HEAD, OPTIONS"
            if request.method == .options { return Response(status: .noContent, headers: [.allow: allow]) }
            throw HTTPError(.methodNotAllowed, headers: [.allow: allow])
        }
        guard request.headers[.range] != nil || request.headers[.ifRange] != nil else {
            return try await next(request, context)
        }
        var head = request.head
        head.headerFields[.range] = nil
        head.headerFields[.ifRange] = nil
        return try await next(Request(head: head, body: request.body), context)
    }

    static func isImageFileName(_ name: String) -> Bool {
        // Dots only between other characters: no leading dot, no `..` (the file middleware
        // answers 400 to those).
        guard name.utf8.count <= 200, name.utf8.allSatisfy(isNameByte),
            name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ !$0.isEmpty })
        else { return false }
        return [".png", ".jpg", ".jpeg", ".gif", ".webp"].contains { name.hasSuffix($0) }
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default:
            false
        }
    }
}
