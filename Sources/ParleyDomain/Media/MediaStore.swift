/// Where images go: local disk (the default) or Cloudinary.
///
/// Implementations receive only validated images and return a reference that can be stored with
/// the user or message and later passed to ``delete(_:)``.
public protocol MediaStore: Sendable {
    /// Stores `image` and returns where clients can fetch it.
    /// - Throws: ``ParleyError`` describing a failure of the backend (502/503/504).
    func store(_ image: ImageUpload, purpose: MediaPurpose) async throws -> MediaReference

    /// Deletes a stored image. Deleting one that is already gone succeeds.
    func delete(_ mediaID: String) async throws

    /// Names the backend for logs.
    var displayName: String { get }
}

/// What an image is for; backends may file them separately.
public enum MediaPurpose: String, Sendable, Hashable {
    case avatar
    case message
}
