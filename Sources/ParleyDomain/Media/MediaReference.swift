/// Where a stored image can be fetched (`url`) and how its media store names it (`mediaID`),
/// so that it can be deleted later.
public struct MediaReference: Sendable, Hashable {
    public var url: String
    public var mediaID: String?

    public init(url: String, mediaID: String?) {
        self.url = url
        self.mediaID = mediaID
    }

    /// The reference that removes an image.
    public static let removed = MediaReference(url: "", mediaID: nil)
}
