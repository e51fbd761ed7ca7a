import NIOCore

/// Image bytes whose format has been sniffed and whose size is within the limit: the only kind
/// of image a ``MediaStore`` is ever given.
public struct ImageUpload: Sendable {
    public let bytes: ByteBuffer
    public let format: ImageFormat

    /// For the image validator only (the services' `ImageValidator`, and tests), which is what
    /// makes an upload.
    package init(bytes: ByteBuffer, format: ImageFormat) {
        self.bytes = bytes
        self.format = format
    }
}

/// An image as a client sent it, before validation.
public enum ImageInput: Sendable {
    /// A `data:image/…;base64,…` URI in a JSON body, as the Node app's frontends send.
    case dataURI(String)
    /// Raw bytes, from a `multipart/form-data` file part.
    case bytes(ByteBuffer)
}
