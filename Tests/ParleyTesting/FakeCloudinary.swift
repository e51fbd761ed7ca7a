import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MultipartKit
import NIOCore
import Synchronization
import Testing

/// A stand-in for Cloudinary's Upload API, written from Cloudinary's documentation and not from
/// Parley's client: it checks the multipart fields and the signature with its own copy of the
/// secret, refuses stale timestamps and bad signatures with Cloudinary's error shape
/// (`{"error":{"message":…}}`), answers with Cloudinary's response fields, and records destroys.
///
/// Scripted failures (``script(_:)``) are served to the next requests, one each.
final class FakeCloudinary: Sendable {
    static let cloudName = "parley-test"
    static let apiKey = "418293746512983"
    static let apiSecret = "fake-cloudinary-secret-abcd"

    struct Upload: Sendable {
        var publicID: String
        var fields: [String: String]
        var bytes: [UInt8]
        var signatureLength: Int
    }

    enum Scripted: Sendable {
        /// Handle the request normally.
        case pass
        /// Answer with this status and, if given, Cloudinary's error body.
        case status(Int, message: String?)
        /// Wait this long before handling the request normally.
        case delay(Duration)
    }

    private struct State {
        var uploads: [String: Upload] = [:]
        var uploadOrder: [String] = []
        var destroyed: [String] = []
        var script: [Scripted] = []
        var requests = 0
    }

    private let state = Mutex(State())
    let port: Int

    private init(port: Int) {
        self.port = port
    }

    /// `upload_prefix` for the client.
    var uploadPrefix: String { "http://127.0.0.1:\(port)" }
    /// The `CLOUDINARY_URL` that points a Parley server here.
    var url: String { "cloudinary://\(Self.apiKey):\(Self.apiSecret)@\(Self.cloudName)?upload_prefix=\(uploadPrefix)" }

    var uploads: [Upload] { state.withLock { state in state.uploadOrder.compactMap { state.uploads[$0] } } }
    var destroyed: [String] { state.withLock { $0.destroyed } }
    var requestCount: Int { state.withLock { $0.requests } }

    func script(_ steps: Scripted...) {
        state.withLock { $0.script.append(contentsOf: steps) }
    }

    /// Runs `body` with a fake listening on a free port.
    static func run<Result: Sendable>(_ body: @escaping @Sendable (FakeCloudinary) async throws -> Result)
        async throws -> Result
    {
        let holder = Mutex<FakeCloudinary?>(nil)
        let router = Router()
        router.post("/v1_1/:cloud/image/upload") { request, context in
            try await holder.withLock { $0 }!.upload(request, context: context)
        }
        router.post("/v1_1/:cloud/image/destroy") { request, context in
            try await holder.withLock { $0 }!.destroy(request, context: context)
        }
        var logger = Logger(label: "fake-cloudinary")
        logger.logLevel = .critical
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        return try await application.test(.live) { client in
            let fake = FakeCloudinary(port: try #require(client.port))
            holder.withLock { $0 = fake }
            return try await body(fake)
        }
    }

    // MARK: Endpoints

    private func upload(_ request: Request, context: BasicRequestContext) async throws -> Response {
        if let answer = try await scripted() { return answer }
        guard context.parameters.get("cloud") == Self.cloudName else {
            return Self.error(404, "Invalid cloud_name \(context.parameters.get("cloud") ?? "")")
        }
        guard let contentType = request.headers[.contentType], contentType.hasPrefix("multipart/form-data"),
            let boundary = contentType.components(separatedBy: "boundary=").last
        else {
            return Self.error(400, "Upload requires multipart/form-data")
        }
        let body = try await request.body.collect(upTo: 20 * 1024 * 1024)
        guard let parts = Self.parts(of: body, boundary: boundary) else {
            return Self.error(400, "Malformed multipart body")
        }
        var fields: [String: String] = [:]
        var file: [UInt8]?
        for part in parts {
            if part.name == "file" {
                file = part.bytes
            } else {
                fields[part.name] = String(decoding: part.bytes, as: UTF8.self)
            }
        }
        if let failure = Self.checkAuthentication(fields) { return failure }
        guard let file else { return Self.error(400, "Missing required parameter - file") }
        guard Self.isImage(file) else { return Self.error(400, "Invalid image file") }

        var publicID = fields["public_id"] ?? UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        if let folder = fields["folder"] { publicID = folder + "/" + publicID }
        let upload = Upload(
            publicID: publicID, fields: fields, bytes: file, signatureLength: fields["signature"]?.count ?? 0)
        state.withLock { state in
            if state.uploads[publicID] == nil { state.uploadOrder.append(publicID) }
            state.uploads[publicID] = upload
        }
        let version = Int(Date().timeIntervalSince1970)
        let answer: [String: Any] = [
            "asset_id": UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""),
            "public_id": publicID,
            "version": version,
            "version_id": UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""),
            "signature": Self.hexSHA1("public_id=\(publicID)&version=\(version)\(Self.apiSecret)"),
            "width": 1, "height": 1, "format": "png", "resource_type": "image",
            "created_at": ISO8601DateFormatter().string(from: Date()), "tags": [String](), "bytes": file.count,
            "type": "upload", "etag": "0123456789abcdef", "placeholder": false,
            "url": "http://res.cloudinary.com/\(Self.cloudName)/image/upload/v\(version)/\(publicID).png",
            "secure_url": "https://res.cloudinary.com/\(Self.cloudName)/image/upload/v\(version)/\(publicID).png",
            "original_filename": "file",
        ]
        return Self.json(200, answer)
    }

    private func destroy(_ request: Request, context: BasicRequestContext) async throws -> Response {
        if let answer = try await scripted() { return answer }
        let body = try await request.body.collect(upTo: 64 * 1024)
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let halves = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[halves[0]] = halves.count > 1 ? halves[1] : ""
        }
        if let failure = Self.checkAuthentication(fields) { return failure }
        guard let publicID = fields["public_id"] else {
            return Self.error(400, "Missing required parameter - public_id")
        }
        let existed = state.withLock { state in
            state.destroyed.append(publicID)
            state.uploadOrder.removeAll { $0 == publicID }
            return state.uploads.removeValue(forKey: publicID) != nil
        }
        return Self.json(200, ["result": existed ? "ok" : "not found"])
    }

    private func scripted() async throws -> Response? {
        let step = state.withLock { state -> Scripted? in
            state.requests += 1
            return state.script.isEmpty ? nil : state.script.removeFirst()
        }
        switch step {
        case .status(let status, let message)?:
            guard let message else { return Response(status: .init(code: status)) }
            return Self.error(status, message)
        case .delay(let duration)?:
            try await Task.sleep(for: duration)
            return nil
        case .pass?, nil:
            return nil
        }
    }

    // MARK: Cloudinary's checks

    /// API key, timestamp within an hour, and signature, in the order Cloudinary reports them.
    private static func checkAuthentication(_ fields: [String: String]) -> Response? {
        guard let key = fields["api_key"], let signature = fields["signature"], let timestamp = fields["timestamp"]
        else {
            return error(400, "Must supply api_key")
        }
        guard key == apiKey else { return error(401, "Unknown API key \(key)") }
        guard let seconds = TimeInterval(timestamp) else { return error(400, "Invalid timestamp \(timestamp)") }
        if abs(Date().timeIntervalSince1970 - seconds) > 3600 {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss Z"
            let reported = formatter.string(from: Date(timeIntervalSince1970: seconds))
            return error(400, "Stale request - reported time is \(reported) which is more than 1 hour ago")
        }
        let signed = fields.filter {
            !["file", "cloud_name", "resource_type", "api_key", "signature"].contains($0.key)
        }
        .filter { !$0.value.isEmpty }
        .sorted { $0.key < $1.key }
        .map { "\($0.key)=\($0.value.replacingOccurrences(of: "&", with: "%26"))" }
        .joined(separator: "&")
        let expected =
            signature.count == 64 ? hexSHA256(signed + apiSecret) : hexSHA1(signed + apiSecret)
        guard signature == expected else {
            return error(401, "Invalid Signature \(signature). String to sign - '\(signed)'.")
        }
        return nil
    }

    private static func isImage(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) || bytes.starts(with: [0xFF, 0xD8, 0xFF])
            || bytes.starts(with: Array("GIF8".utf8)) || bytes.starts(with: Array("RIFF".utf8))
    }

    private struct Part {
        var name: String
        var bytes: [UInt8]
    }

    /// Splits a multipart body with MultipartKit's parser (not Parley's reader).
    private static func parts(of body: ByteBuffer, boundary: String) -> [Part]? {
        let parser = MultipartParser(boundary: boundary)
        var parts: [Part] = []
        var current = Part(name: "", bytes: [])
        parser.onHeader = { name, value in
            guard name.lowercased() == "content-disposition" else { return }
            if let range = value.range(of: "name=\""), let end = value[range.upperBound...].firstIndex(of: "\"") {
                current.name = String(value[range.upperBound..<end])
            }
        }
        parser.onBody = { chunk in current.bytes += chunk.readableBytesView }
        parser.onPartComplete = {
            parts.append(current)
            current = Part(name: "", bytes: [])
        }
        do {
            try parser.execute(body)
        } catch {
            return nil
        }
        return parts
    }

    private static func error(_ status: Int, _ message: String) -> Response {
        var response = json(status, ["error": ["message": message]])
        response.headers[HTTPField.Name("X-Cld-Error")!] = message
        return response
    }

    private static func json(_ status: Int, _ object: Any) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(
            status: .init(code: status),
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func hexSHA1(_ text: String) -> String {
        Insecure.SHA1.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func hexSHA256(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
