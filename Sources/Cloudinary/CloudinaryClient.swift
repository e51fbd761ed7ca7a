import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Signed calls to Cloudinary's Upload API: upload an image, destroy an asset.
///
/// Every call is signed with a fresh timestamp, retried with exponential backoff when Cloudinary
/// answers 5xx or asks to slow down or cannot be reached, and bounded as a whole by the
/// configured timeout. The file's bytes are streamed from the caller's buffer on each attempt,
/// never copied into a request body.
public struct CloudinaryClient: Sendable {
    public let configuration: CloudinaryConfiguration
    private let httpClient: HTTPClient
    private let logger: Logger
    private let currentTime: @Sendable () -> Int64

    /// Largest response body read: Cloudinary's answers are a few kilobytes.
    static let maximumResponseBytes = 1024 * 1024

    /// - Parameters:
    ///   - httpClient: shared with the rest of the process; AsyncHTTPClient's singleton unless
    ///     the application runs its own.
    ///   - currentTime: Unix time in seconds, for the signed `timestamp` (a test can skew it).
    public init(
        configuration: CloudinaryConfiguration,
        httpClient: HTTPClient = .shared,
        logger: Logger,
        currentTime: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.logger = logger
        self.currentTime = currentTime
    }

    /// Uploads `file` and returns the stored asset.
    /// - Throws: ``CloudinaryError``, or `CancellationError` if the calling task was cancelled.
    public func upload(
        _ file: ByteBuffer,
        fileName: String = "file",
        options: CloudinaryUploadOptions = CloudinaryUploadOptions(),
        resourceType: String = "image"
    ) async throws -> CloudinaryAsset {
        let body = try await call("upload", resourceType: resourceType) { timestamp in
            var parameters = options.parameters
            parameters["timestamp"] = String(timestamp)
            let form = MultipartFormBody(
                fields: signedFields(parameters),
                fileField: "file",
                fileName: fileName,
                file: file
            )
            return (
                form.contentType, .stream(BufferSequence(buffers: form.buffers), length: .known(Int64(form.length)))
            )
        }
        do {
            return try JSONDecoder().decode(CloudinaryAsset.self, from: Data(body.readableBytesView))
        } catch {
            throw CloudinaryError(.invalidResponse, message: "the upload answer has no public_id or secure_url")
        }
    }

    /// Deletes the asset `publicID`. An asset that does not exist is reported, not thrown.
    /// - Parameter invalidate: also purge cached copies from the CDN (slower to take effect).
    @discardableResult
    public func destroy(
        publicID: String,
        resourceType: String = "image",
        invalidate: Bool = false
    ) async throws -> CloudinaryDestroyResult {
        let body = try await call("destroy", resourceType: resourceType) { timestamp in
            var parameters = ["public_id": publicID, "timestamp": String(timestamp)]
            if invalidate { parameters["invalidate"] = "true" }
            let encoded = signedFields(parameters)
                .map { "\(Self.formEncoded($0.0))=\(Self.formEncoded($0.1))" }
                .joined(separator: "&")
            return ("application/x-www-form-urlencoded", .bytes(ByteBuffer(string: encoded)))
        }
        struct Answer: Decodable { var result: String }
        switch (try? JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView)))?.result {
        case "ok": return .deleted
        case "not found": return .notFound
        case let other:
            throw CloudinaryError(.invalidResponse, message: "destroy answered result \(other ?? "(none)")")
        }
    }

    /// `parameters` with the API key and their signature added, in a stable order.
    private func signedFields(_ parameters: [String: String]) -> [(String, String)] {
        let signature = CloudinarySignature.sign(
            parameters,
            secret: configuration.credentials.apiSecret,
            algorithm: configuration.signatureAlgorithm
        )
        return parameters.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }
            + [("api_key", configuration.credentials.apiKey), ("signature", signature)]
    }

    /// Sends the request `makeBody` builds for a timestamp until it succeeds, fails for good,
    /// or the timeout passes; returns the response body of a 2xx answer.
    private func call(
        _ action: String,
        resourceType: String,
        makeBody: (Int64) -> (contentType: String, body: HTTPClientRequest.Body)
    ) async throws -> ByteBuffer {
        let url =
            "\(configuration.uploadPrefix)/v1_1/\(configuration.credentials.cloudName)/\(resourceType)/\(action)"
        let deadline = NIODeadline.now() + TimeAmount(configuration.timeout)
        var delay = configuration.retryDelay
        var attempt = 1
        while true {
            let (contentType, body) = makeBody(currentTime())
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: contentType)
            request.headers.add(name: "Accept", value: "application/json")
            request.body = body

            let failure: CloudinaryError
            do {
                let response = try await httpClient.execute(request, deadline: deadline, logger: logger)
                let answer = try await response.body.collect(upTo: Self.maximumResponseBytes)
                let status = Int(response.status.code)
                switch status {
                case 200..<300:
                    return answer
                case 420, 429, 500...:
                    failure = CloudinaryError(.failed(status: status), message: Self.message(answer, response.headers))
                case 400..<500:
                    throw CloudinaryError(.rejected(status: status), message: Self.message(answer, response.headers))
                default:
                    throw CloudinaryError(.invalidResponse, message: "unexpected HTTP status \(status)")
                }
            } catch let error as CloudinaryError {
                throw error
            } catch let error as HTTPClientError where error == .cancelled || Task.isCancelled {
                throw CancellationError()
            } catch let error as HTTPClientError where error == .deadlineExceeded {
                throw CloudinaryError(.timedOut, message: "no answer from \(action) within \(configuration.timeout)")
            } catch is NIOTooManyBytesError {
                throw CloudinaryError(.invalidResponse, message: "the \(action) answer is larger than 1 MB")
            } catch {
                failure = CloudinaryError(.unreachable, message: "\(error)")
            }

            let jittered = delay * Double.random(in: 0.5...1.0)
            guard attempt < configuration.maximumAttempts, NIODeadline.now() + TimeAmount(jittered) < deadline else {
                throw failure
            }
            logger.warning(
                "Cloudinary call failed; retrying",
                metadata: [
                    "cloudinary.action": "\(action)", "attempt": "\(attempt)", "error": "\(failure)",
                    "retry.in": "\(jittered)",
                ]
            )
            try await Task.sleep(for: jittered)
            delay *= 2
            attempt += 1
        }
    }

    /// Cloudinary's error message: `{"error":{"message":…}}`, else its `X-Cld-Error` header.
    static func message(_ body: ByteBuffer, _ headers: HTTPHeaders) -> String {
        struct Answer: Decodable {
            struct Detail: Decodable { var message: String }
            var error: Detail
        }
        if let answer = try? JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView)) {
            return answer.error.message
        }
        if let header = headers.first(name: "X-Cld-Error"), !header.isEmpty {
            return header
        }
        return "no error message"
    }

    /// `application/x-www-form-urlencoded` escaping: everything but unreserved characters.
    static func formEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }
}
