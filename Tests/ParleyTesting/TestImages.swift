import Foundation

/// Tiny real images of each accepted format, and data URIs of them.
enum TestImages {
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0, count: 32)
    static let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(repeating: 1, count: 32)
    static let gif: [UInt8] = Array("GIF89a".utf8) + Array(repeating: 2, count: 32)
    static let webp: [UInt8] = Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBP".utf8) + Array(repeating: 3, count: 32)

    static func dataURI(_ bytes: [UInt8], type: String = "image/png") -> String {
        "data:\(type);base64,\(Data(bytes).base64EncodedString())"
    }
}
