import Cloudinary
import Logging
import ParleyDomain

/// Keeps images on Cloudinary: each is uploaded with a signed request, and clients are given its
/// `secure_url`.
///
/// Media ids are `cloudinary:<public_id>`, so an id left from another backend (a local file
/// name, after a deployment switched to Cloudinary) is never sent to Cloudinary to destroy.
public struct CloudinaryMediaStore: MediaStore {
    public let client: CloudinaryClient
    /// Folder the assets are filed under, if any.
    public let folder: String?
    private let logger: Logger

    static let mediaIDPrefix = "cloudinary:"

    public init(client: CloudinaryClient, folder: String? = nil, logger: Logger) {
        self.client = client
        self.folder = folder
        self.logger = logger
    }

    public var displayName: String { "Cloudinary cloud \(client.configuration.credentials.cloudName)" }

    /// - Throws: ``ParleyError``: 502 when Cloudinary refuses or keeps failing, 504 when it does
    ///   not answer in time.
    public func store(_ image: ImageUpload, purpose: MediaPurpose) async throws -> MediaReference {
        // Named here, so that a retried upload replaces its own first attempt.
        let publicID = "\(purpose.rawValue)-\(ObjectID().hexString)"
        let asset: CloudinaryAsset
        do {
            asset = try await client.upload(
                image.bytes,
                fileName: "\(publicID).\(image.format.fileExtension)",
                options: CloudinaryUploadOptions(folder: folder, publicID: publicID)
            )
        } catch let error as CloudinaryError {
            ChatMetrics.upload(backend: "cloudinary", succeeded: false)
            logger.error("Cloudinary upload failed", metadata: ["error": "\(error)", "purpose": "\(purpose.rawValue)"])
            throw Self.clientError(error)
        }
        ChatMetrics.upload(backend: "cloudinary", succeeded: true)
        return MediaReference(url: asset.secureURL, mediaID: Self.mediaIDPrefix + asset.publicID)
    }

    public func delete(_ mediaID: String) async throws {
        guard mediaID.hasPrefix(Self.mediaIDPrefix) else { return }
        let publicID = String(mediaID.dropFirst(Self.mediaIDPrefix.count))
        if try await client.destroy(publicID: publicID, invalidate: true) == .notFound {
            logger.debug("Cloudinary asset was already gone", metadata: ["cloudinary.public_id": "\(publicID)"])
        }
    }

    /// What the client of a failed upload is told. Cloudinary's message is passed on, except
    /// when it refused the server's own credentials: that is the operator's problem, in the log.
    static func clientError(_ error: CloudinaryError) -> ParleyError {
        switch error.kind {
        case .rejected(let status) where status == 401 || status == 403:
            ParleyError(
                .badGateway,
                code: "cloudinary_rejected",
                message: "Cloudinary refused this server's credentials (HTTP \(status)); the image was not stored"
            )
        case .rejected(let status):
            ParleyError(
                .badGateway,
                code: "cloudinary_rejected",
                message: "Cloudinary rejected the image (HTTP \(status)): \(error.message)"
            )
        case .failed(let status):
            ParleyError(
                .badGateway,
                code: "cloudinary_unavailable",
                message: "Cloudinary failed to store the image (HTTP \(status)); try again later"
            )
        case .unreachable:
            ParleyError(
                .badGateway,
                code: "cloudinary_unavailable",
                message: "Cloudinary could not be reached; try again later"
            )
        case .timedOut:
            ParleyError(.gatewayTimeout, code: "cloudinary_timeout", message: "Cloudinary did not answer in time")
        case .invalidResponse:
            ParleyError(
                .badGateway,
                code: "cloudinary_invalid_response",
                message: "Cloudinary sent an answer this server does not understand"
            )
        }
    }
}
