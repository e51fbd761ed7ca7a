import Crypto

/// The digest Cloudinary signs requests with. Cloudinary accepts either unless an account is set
/// to require SHA-256.
public enum CloudinarySignatureAlgorithm: String, Sendable, Hashable, CaseIterable {
    case sha1
    case sha256
}

/// Cloudinary's request signature: the signed parameters sorted by name, written `name=value`,
/// joined with `&`, the API secret appended, hashed and hex-encoded.
///
/// `file`, `cloud_name`, `resource_type` and `api_key` are never signed, nor are empty values. An
/// `&` inside a value is written `%26`, as Cloudinary's own SDKs do.
public enum CloudinarySignature {
    /// Parameters that travel with a request but are not part of its signature.
    public static let unsignedParameters: Set<String> = ["file", "cloud_name", "resource_type", "api_key", "signature"]

    /// The string whose digest is the signature, without the secret.
    public static func stringToSign(_ parameters: [String: String]) -> String {
        parameters
            .filter { !unsignedParameters.contains($0.key) && !$0.value.isEmpty }
            .sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.replacingAmpersands())" }
            .joined(separator: "&")
    }

    /// The lowercase hex signature of `parameters`.
    public static func sign(
        _ parameters: [String: String],
        secret: String,
        algorithm: CloudinarySignatureAlgorithm = .sha1
    ) -> String {
        let bytes = Array((stringToSign(parameters) + secret).utf8)
        switch algorithm {
        case .sha1: return hex(Insecure.SHA1.hash(data: bytes))
        case .sha256: return hex(SHA256.hash(data: bytes))
        }
    }

    private static func hex(_ digest: some Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(Int(type(of: digest).byteCount) * 2)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension String {
    fileprivate func replacingAmpersands() -> String {
        guard contains("&") else { return self }
        return split(separator: "&", omittingEmptySubsequences: false).joined(separator: "%26")
    }
}
