import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The JWT secret a development server uses when none is configured: generated once, kept in the
/// data directory (mode 0600), so sessions survive restarts.
enum DevelopmentSecret {
    static let fileName = ".jwt-secret"

    static func loadOrCreate(in dataDirectory: String, logger: Logger) throws -> String {
        let path = dataDirectory + "/" + fileName
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            let secret = existing.trimmingCharacters(in: " \n\r\t")
            if secret.utf8.count >= 32 {
                logger.warning(
                    "JWT_SECRET is not set: using the development secret kept in \(path). Set JWT_SECRET in production."
                )
                return secret
            }
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<48).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secret = Data(bytes).base64EncodedString()
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        guard
            FileManager.default.createFile(
                atPath: path,
                contents: Data(secret.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw ConfigurationError(key: "DATA_DIR", "cannot write \(path)")
        }
        logger.warning(
            "JWT_SECRET is not set: generated a development secret in \(path). Set JWT_SECRET in production.")
        return secret
    }
}
