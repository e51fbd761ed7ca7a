/// Optional parameters of an upload; each one sent is signed.
public struct CloudinaryUploadOptions: Sendable, Hashable {
    /// Folder (path prefix) to file the asset under.
    public var folder: String?
    /// The asset's id; Cloudinary generates one when `nil`. Naming it makes a retried upload
    /// replace its own first attempt rather than create a second asset.
    public var publicID: String?
    /// Whether an upload may replace an existing asset with the same `publicID`.
    public var overwrite: Bool?
    public var tags: [String]

    public init(folder: String? = nil, publicID: String? = nil, overwrite: Bool? = nil, tags: [String] = []) {
        self.folder = folder
        self.publicID = publicID
        self.overwrite = overwrite
        self.tags = tags
    }

    /// The form fields these options become (tags comma-joined, as Cloudinary signs them).
    var parameters: [String: String] {
        var parameters: [String: String] = [:]
        parameters["folder"] = folder
        parameters["public_id"] = publicID
        parameters["overwrite"] = overwrite.map { $0 ? "true" : "false" }
        if !tags.isEmpty { parameters["tags"] = tags.joined(separator: ",") }
        return parameters
    }
}

/// What Cloudinary says about a stored asset (the fields of its upload response Parley uses).
public struct CloudinaryAsset: Sendable, Hashable, Decodable {
    public var publicID: String
    /// The HTTPS delivery URL: what clients are given.
    public var secureURL: String
    public var url: String?
    public var version: Int?
    public var format: String?
    public var resourceType: String?
    public var width: Int?
    public var height: Int?
    public var bytes: Int?

    public init(publicID: String, secureURL: String) {
        self.publicID = publicID
        self.secureURL = secureURL
    }

    enum CodingKeys: String, CodingKey {
        case publicID = "public_id"
        case secureURL = "secure_url"
        case url, version, format, width, height, bytes
        case resourceType = "resource_type"
    }
}

/// The outcome of a destroy call: Cloudinary answers 200 either way.
public enum CloudinaryDestroyResult: Sendable, Hashable {
    case deleted
    case notFound
}
