/// How a ``CloudinaryClient`` reaches Cloudinary.
public struct CloudinaryConfiguration: Sendable, Hashable {
    /// Cloudinary's API origin, which its SDKs call the upload prefix.
    public static let defaultUploadPrefix = "https://api.cloudinary.com"

    public var credentials: CloudinaryCredentials
    /// Scheme, host and optional port (and path) that `/v1_1/<cloud>/…` is appended to: a
    /// regional API host, a proxy, or a local stand-in in tests.
    public var uploadPrefix: String
    public var signatureAlgorithm: CloudinarySignatureAlgorithm
    /// Longest a whole call may take, retries included.
    public var timeout: Duration
    /// How many times a call is tried when Cloudinary answers 5xx, asks to slow down (420, 429)
    /// or cannot be reached.
    public var maximumAttempts: Int
    /// Wait before the first retry; each later retry waits twice as long (with jitter).
    public var retryDelay: Duration

    public init(
        credentials: CloudinaryCredentials,
        uploadPrefix: String = CloudinaryConfiguration.defaultUploadPrefix,
        signatureAlgorithm: CloudinarySignatureAlgorithm = .sha1,
        timeout: Duration = .seconds(30),
        maximumAttempts: Int = 3,
        retryDelay: Duration = .milliseconds(250)
    ) {
        self.credentials = credentials
        var prefix = uploadPrefix
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.uploadPrefix = prefix
        self.signatureAlgorithm = signatureAlgorithm
        self.timeout = timeout
        self.maximumAttempts = max(1, maximumAttempts)
        self.retryDelay = retryDelay
    }

    /// Reads Cloudinary's `cloudinary://API_KEY:API_SECRET@CLOUD_NAME` form, with the optional
    /// query parameters `upload_prefix` and `signature_algorithm` its SDKs understand.
    ///
    /// - Throws: ``CloudinaryConfigurationError`` saying what is wrong (never quoting the secret).
    public init(url: String) throws {
        let scheme = "cloudinary://"
        guard url.lowercased().hasPrefix(scheme) else {
            throw CloudinaryConfigurationError(
                "must start with cloudinary:// (cloudinary://API_KEY:API_SECRET@CLOUD_NAME)")
        }
        let rest = url.dropFirst(scheme.count)
        let (authority, query) = Self.split(rest, at: "?")
        guard let at = authority.lastIndex(of: "@") else {
            throw CloudinaryConfigurationError("has no @CLOUD_NAME (cloudinary://API_KEY:API_SECRET@CLOUD_NAME)")
        }
        let userInfo = authority[..<at]
        let cloudName = String(authority[authority.index(after: at)...])
        guard let colon = userInfo.firstIndex(of: ":") else {
            throw CloudinaryConfigurationError("has no API secret (cloudinary://API_KEY:API_SECRET@CLOUD_NAME)")
        }
        let credentials = CloudinaryCredentials(
            cloudName: cloudName,
            apiKey: Self.percentDecoded(userInfo[..<colon]),
            apiSecret: Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
        )
        try Self.validate(credentials)
        var uploadPrefix = Self.defaultUploadPrefix
        var algorithm = CloudinarySignatureAlgorithm.sha1
        for pair in (query ?? "").split(separator: "&") {
            let (name, value) = Self.split(pair, at: "=")
            let decoded = Self.percentDecoded(value ?? "")
            switch name {
            case "upload_prefix":
                uploadPrefix = try Self.validatedUploadPrefix(decoded)
            case "signature_algorithm":
                guard let parsed = CloudinarySignatureAlgorithm(rawValue: decoded.lowercased()) else {
                    throw CloudinaryConfigurationError("signature_algorithm must be sha1 or sha256, got '\(decoded)'")
                }
                algorithm = parsed
            default:
                // Other SDK options (secure, cname, …) concern delivery URLs, not uploads.
                continue
            }
        }
        self.init(credentials: credentials, uploadPrefix: uploadPrefix, signatureAlgorithm: algorithm)
    }

    /// Checks that the three credentials are present and that the cloud name can go in a URL path.
    public static func validate(_ credentials: CloudinaryCredentials) throws {
        guard !credentials.cloudName.isEmpty else { throw CloudinaryConfigurationError("has an empty cloud name") }
        guard
            credentials.cloudName.unicodeScalars.allSatisfy({ scalar in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                        || "-_".unicodeScalars.contains(scalar))
            })
        else {
            throw CloudinaryConfigurationError(
                "cloud name '\(credentials.cloudName)' may hold only letters, digits, '-' and '_'")
        }
        guard !credentials.apiKey.isEmpty else { throw CloudinaryConfigurationError("has an empty API key") }
        guard !credentials.apiSecret.isEmpty else { throw CloudinaryConfigurationError("has an empty API secret") }
    }

    /// An `http` or `https` URL without query or fragment, trailing slashes removed.
    public static func validatedUploadPrefix(_ raw: String) throws -> String {
        var value = raw
        while value.hasSuffix("/") { value.removeLast() }
        let lowered = value.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://"),
            value.split(separator: "://", maxSplits: 1).last.map({ !$0.isEmpty }) == true,
            !value.contains("?"), !value.contains("#"), !value.contains(" ")
        else {
            throw CloudinaryConfigurationError(
                "upload prefix '\(raw)' must be an http(s) URL such as \(defaultUploadPrefix)")
        }
        return value
    }

    private static func split(_ text: Substring, at separator: Character) -> (Substring, Substring?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (text[..<index], text[text.index(after: index)...])
    }

    /// `%XX` escapes decoded; anything malformed is kept as written.
    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A Cloudinary setting that cannot be used; the message completes "CLOUDINARY_URL …".
public struct CloudinaryConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
