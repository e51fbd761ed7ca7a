import NIOCore
import ParleyDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns what a client sent into an ``ImageUpload``: decodes data URIs, enforces the size
/// limit and sniffs the real format (PNG, JPEG, GIF or WebP only).
public struct ImageValidator: Sendable {
    /// The default largest decoded image: 5 MB.
    public static let defaultMaximumBytes = 5 * 1024 * 1024

    public let maximumBytes: Int

    public init(maximumBytes: Int = ImageValidator.defaultMaximumBytes) {
        self.maximumBytes = maximumBytes
    }

    /// - Parameter field: the request field the image came in, named in errors.
    /// - Throws: ``ParleyError`` (400 malformed, 413 too large, 415 not a supported image).
    public func validate(_ input: ImageInput, field: String) throws -> ImageUpload {
        let bytes: ByteBuffer
        switch input {
        case .dataURI(let uri):
            bytes = try decodeDataURI(uri, field: field)
        case .bytes(let buffer):
            bytes = buffer
        }
        guard bytes.readableBytes > 0 else {
            throw ParleyError.invalidField(field, "\(field) is empty")
        }
        guard bytes.readableBytes <= maximumBytes else {
            throw tooLarge(field)
        }
        guard let format = bytes.withUnsafeReadableBytes({ ImageFormat(sniffing: $0) }) else {
            throw ParleyError(
                .unsupportedMediaType,
                code: "unsupported_image_type",
                message: "\(field) must be a PNG, JPEG, GIF or WebP image"
            )
        }
        return ImageUpload(bytes: bytes, format: format)
    }

    private func decodeDataURI(_ uri: String, field: String) throws -> ByteBuffer {
        // data:[<media type>][;param=value]*;base64,<data>
        guard uri.utf8.starts(with: "data:".utf8), let comma = uri.utf8.firstIndex(of: UInt8(ascii: ",")) else {
            throw ParleyError.invalidField(field, "\(field) must be a base64 data URI (data:image/png;base64,…)")
        }
        let header = uri[uri.index(uri.startIndex, offsetBy: 5)..<comma]
        guard header.split(separator: ";").last?.lowercased() == "base64" else {
            throw ParleyError.invalidField(field, "\(field) must be a base64 data URI (data:image/png;base64,…)")
        }
        let payload = uri.utf8[uri.utf8.index(after: comma)...]
        // Reject before decoding anything that cannot fit once decoded.
        guard payload.count / 4 * 3 <= maximumBytes + 2 else {
            throw tooLarge(field)
        }
        guard let data = Data(base64Encoded: Data(payload)) else {
            throw ParleyError.invalidField(field, "\(field) is not valid base64")
        }
        return ByteBuffer(bytes: data)
    }

    private func tooLarge(_ field: String) -> ParleyError {
        ParleyError(
            .payloadTooLarge,
            code: "image_too_large",
            message: "\(field) is larger than \(maximumBytes / 1024 / 1024) MB"
        )
    }
}
