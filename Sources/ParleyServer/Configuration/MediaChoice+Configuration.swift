import Cloudinary

extension ParleyConfiguration.MediaChoice {
    /// Cloudinary when `CLOUDINARY_URL` or the three `CLOUDINARY_CLOUD_NAME`, `CLOUDINARY_API_KEY`,
    /// `CLOUDINARY_API_SECRET` are set; local disk otherwise.
    /// Cloudinary's settings, or local disk.
    init(reader values: ConfigurationValues) throws {
        let url = values.string("CLOUDINARY_URL", isSecret: true)
        let parts = [
            ("CLOUDINARY_CLOUD_NAME", values.string("CLOUDINARY_CLOUD_NAME")),
            ("CLOUDINARY_API_KEY", values.string("CLOUDINARY_API_KEY")),
            ("CLOUDINARY_API_SECRET", values.string("CLOUDINARY_API_SECRET", isSecret: true)),
        ]
        var configuration: CloudinaryConfiguration
        if let url {
            if let set = parts.first(where: { $0.1 != nil }) {
                throw ConfigurationError(
                    key: set.0, "is set as well as CLOUDINARY_URL; set one or the other, not both")
            }
            do {
                configuration = try CloudinaryConfiguration(url: url)
            } catch let error as CloudinaryConfigurationError {
                throw ConfigurationError(key: "CLOUDINARY_URL", error.message)
            }
        } else if parts.contains(where: { $0.1 != nil }) {
            if let missing = parts.first(where: { $0.1 == nil }) {
                throw ConfigurationError(
                    key: missing.0,
                    "is required with the other CLOUDINARY_ credentials (or set CLOUDINARY_URL instead)"
                )
            }
            let credentials = CloudinaryCredentials(
                cloudName: parts[0].1 ?? "", apiKey: parts[1].1 ?? "", apiSecret: parts[2].1 ?? "")
            do {
                try CloudinaryConfiguration.validate(credentials)
            } catch let error as CloudinaryConfigurationError {
                throw ConfigurationError(key: "CLOUDINARY_CLOUD_NAME", error.message)
            }
            configuration = CloudinaryConfiguration(credentials: credentials)
        } else {
            let cloudinaryOnly = [
                "CLOUDINARY_UPLOAD_PREFIX", "CLOUDINARY_SIGNATURE_ALGORITHM", "CLOUDINARY_FOLDER",
                "CLOUDINARY_TIMEOUT_MS", "CLOUDINARY_MAX_ATTEMPTS",
            ]
            if let stray = cloudinaryOnly.first(where: { values.string($0) != nil }) {
                throw ConfigurationError(
                    key: stray,
                    "is set but Cloudinary is not: set CLOUDINARY_URL (or the three CLOUDINARY_ credentials)")
            }
            self = .local
            return
        }

        if let prefix = values.string("CLOUDINARY_UPLOAD_PREFIX") {
            do {
                configuration.uploadPrefix = try CloudinaryConfiguration.validatedUploadPrefix(prefix)
            } catch let error as CloudinaryConfigurationError {
                throw ConfigurationError(key: "CLOUDINARY_UPLOAD_PREFIX", error.message)
            }
        }
        if let raw = values.string("CLOUDINARY_SIGNATURE_ALGORITHM") {
            guard let algorithm = CloudinarySignatureAlgorithm(rawValue: raw.lowercased()) else {
                throw ConfigurationError(key: "CLOUDINARY_SIGNATURE_ALGORITHM", "must be sha1 or sha256, got '\(raw)'")
            }
            configuration.signatureAlgorithm = algorithm
        }
        if let timeout = try values.integer("CLOUDINARY_TIMEOUT_MS", in: 100...600_000) {
            configuration.timeout = .milliseconds(timeout)
        }
        if let attempts = try values.integer("CLOUDINARY_MAX_ATTEMPTS", in: 1...10) {
            configuration.maximumAttempts = attempts
        }
        self = .cloudinary(configuration, folder: try values.string("CLOUDINARY_FOLDER").map(Self.cloudinaryFolder))
    }

    /// A folder path Cloudinary accepts: segments of printable characters other than
    /// `? & # \ % < > +`, separated by single slashes.
    static func cloudinaryFolder(_ raw: String) throws -> String {
        let segments = raw.split(separator: "/", omittingEmptySubsequences: false)
        var trimmed = segments[...]
        while trimmed.first == "" { trimmed.removeFirst() }
        while trimmed.last == "" { trimmed.removeLast() }
        let forbidden = Set("?&#\\%<>+")
        guard !trimmed.isEmpty, trimmed.allSatisfy({ !$0.isEmpty }), raw.utf8.count <= 200,
            raw.allSatisfy({ !forbidden.contains($0) && !$0.isNewline && $0.asciiValue.map { $0 >= 0x20 } ?? true })
        else {
            throw ConfigurationError(
                key: "CLOUDINARY_FOLDER",
                "'\(raw)' is not a folder path like parley/images (no ? & # \\ % < > +, no empty segments)"
            )
        }
        return trimmed.joined(separator: "/")
    }
}
