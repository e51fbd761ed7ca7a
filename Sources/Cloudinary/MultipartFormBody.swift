import NIOCore

/// A `multipart/form-data` body of text fields and one file, built around the file's bytes
/// without copying them: the parts before and after the file are small buffers of their own.
struct MultipartFormBody: Sendable {
    let boundary: String
    /// The encoded body, in order: fields and the file part's header, the file, the closing.
    let buffers: [ByteBuffer]

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }
    var length: Int { buffers.reduce(0) { $0 + $1.readableBytes } }

    /// - Parameter fields: names and values; neither may hold CR, LF or `"` (Cloudinary's
    ///   parameter names and Parley's values never do).
    init(fields: [(String, String)], fileField: String, fileName: String, file: ByteBuffer) {
        let boundary = "parley-" + (0..<2).map { _ in Self.hex(UInt64.random(in: .min ... .max)) }.joined()
        var head = ByteBuffer()
        for (name, value) in fields {
            head.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n")
        }
        head.writeString(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(fileField)\"; filename=\"\(fileName)\"\r\n"
                + "Content-Type: application/octet-stream\r\n\r\n"
        )
        self.boundary = boundary
        self.buffers = [head, file, ByteBuffer(string: "\r\n--\(boundary)--\r\n")]
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// A fixed list of buffers as the async sequence AsyncHTTPClient streams a body from.
struct BufferSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let buffers: [ByteBuffer]

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<ByteBuffer>

        mutating func next() async -> ByteBuffer? {
            remaining.popFirst()
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(remaining: buffers[...])
    }
}
