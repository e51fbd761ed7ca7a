import NIOCore
import NIOFileSystem
import ParleyDomain

/// Keeps images as files in one directory, served by the HTTP layer under `/uploads/`.
///
/// File names are unguessable (an id plus 64 random bits) and carry the extension of the sniffed
/// format, so the file server's `Content-Type` is always right. Files are written through a
/// temporary file that only appears under its name once complete.
public struct LocalMediaStore: MediaStore {
    /// The directory holding the files.
    public let directory: FilePath
    /// Prefix of the URLs handed to clients: `""` for same-origin relative URLs
    /// (`/uploads/…`), or an origin such as `https://chat.example.com`.
    public let publicBaseURL: String
    public static let urlPath = "/uploads/"

    public init(directory: FilePath, publicBaseURL: String = "") {
        self.directory = directory
        var base = publicBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.publicBaseURL = base
    }

    public var displayName: String { "local disk at \(directory)" }

    /// Creates the directory if needed; call once at startup.
    public func prepare() async throws {
        try await FileSystem.shared.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public func store(_ image: ImageUpload, purpose: MediaPurpose) async throws -> MediaReference {
        let name = "\(purpose.rawValue)-\(ObjectID().hexString)-\(Self.randomSuffix()).\(image.format.fileExtension)"
        do {
            try await image.bytes.write(toFileAt: directory.appending(name), options: .newFile(replaceExisting: false))
        } catch {
            ChatMetrics.upload(backend: "local", succeeded: false)
            throw ParleyError(.unavailable, code: "media_unavailable", message: "Could not store the image")
        }
        ChatMetrics.upload(backend: "local", succeeded: true)
        return MediaReference(url: "\(publicBaseURL)\(Self.urlPath)\(name)", mediaID: name)
    }

    public func delete(_ mediaID: String) async throws {
        guard Self.isPlainFileName(mediaID) else { return }
        _ = try await FileSystem.shared.removeItem(at: directory.appending(mediaID))
    }

    /// Only names this store made: no separators, no dot-files.
    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && !name.contains("\\") && !name.contains("\0")
    }

    private static func randomSuffix() -> String {
        let value = UInt64.random(in: .min ... .max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
