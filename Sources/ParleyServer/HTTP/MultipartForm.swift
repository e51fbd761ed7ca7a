import Hummingbird
import MultipartKit
import NIOCore
import ParleyChat
import ParleyDomain

/// A `multipart/form-data` request body: its text fields, and at most one file.
///
/// The body is parsed as it arrives (MultipartKit's streaming parser), so a file is held once,
/// in one buffer, and a body over the limit is refused as soon as it passes it.
package struct MultipartForm: Sendable {
    /// Text parts by name.
    package var fields: [String: String] = [:]
    /// The part carrying a file: one with a `filename`, or named `file`.
    package var file: ByteBuffer?

    /// Whether `contentType` is `multipart/form-data`.
    static func accepts(_ contentType: String) -> Bool {
        mediaType(contentType) == "multipart/form-data"
    }

    /// Reads and parses `request`'s body, at most `limit` bytes of it, keeping the text parts
    /// named in `fieldNames` (others are ignored, as unknown JSON members are).
    /// - Throws: ``ParleyError``: 400 `invalid_multipart` for a malformed body, 413 over `limit`.
    static func read(_ request: Request, limit: Int, fieldNames: Set<String>? = nil) async throws -> MultipartForm {
        guard let contentType = request.headers[.contentType] else {
            throw malformed("Content-Type: multipart/form-data needs a boundary parameter")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw JSONBody.tooLarge(limit)
        }
        var parser = try Parser(contentType: contentType, limit: limit, fieldNames: fieldNames)
        for try await chunk in request.body {
            try parser.feed(chunk)
        }
        return try parser.finish()
    }

    /// Parses a body given as chunks (as it arrives): the entry point the fuzzer drives.
    package static func parse(chunks: [ByteBuffer], contentType: String, limit: Int) throws -> MultipartForm {
        var parser = try Parser(contentType: contentType, limit: limit)
        for chunk in chunks { try parser.feed(chunk) }
        return try parser.finish()
    }

    /// A body being parsed: ``MultipartGuard`` in front of MultipartKit's parser, which reports
    /// to a ``Reader``.
    struct Parser {
        private let limit: Int
        private var received = 0
        private var guardian: MultipartGuard
        private let parser: MultipartParser
        private let reader = Reader()

        init(contentType: String, limit: Int, fieldNames: Set<String>? = nil) throws {
            guard let boundary = MultipartForm.boundary(in: contentType) else {
                throw malformed("Content-Type: multipart/form-data needs a boundary parameter")
            }
            self.limit = limit
            guardian = MultipartGuard(boundary: boundary)
            parser = MultipartParser(boundary: boundary)
            reader.fieldNames = fieldNames
            parser.onHeader = { [reader] name, value in reader.header(name, value) }
            parser.onBody = { [reader] chunk in reader.body(&chunk) }
            parser.onPartComplete = { [reader] in reader.completePart() }
        }

        mutating func feed(_ chunk: ByteBuffer) throws {
            received += chunk.readableBytes
            guard received <= limit else { throw JSONBody.tooLarge(limit) }
            do {
                try guardian.check(chunk)
            } catch .headerNameByte {
                throw malformed("A part header's name may hold only ASCII letters, digits and punctuation")
            } catch .tooLarge {
                throw malformed(
                    "A multipart body may have at most \(MultipartGuard.maximumParts) parts, "
                        + "\(MultipartGuard.maximumHeadersPerPart) header lines per part "
                        + "and \(MultipartGuard.maximumHeaderLineBytes) bytes per header line"
                )
            }
            do {
                try parser.execute(chunk)
            } catch {
                throw malformed("The multipart body is malformed")
            }
            if let error = reader.error { throw error }
        }

        func finish() throws -> MultipartForm {
            guard !reader.inPart else {
                throw malformed("The multipart body ended before its closing boundary")
            }
            return reader.form
        }
    }

    /// Collects parts as the parser reports them. Used by one task only, for one body.
    private final class Reader {
        var form = MultipartForm()
        var error: ParleyError?
        /// The text parts kept; `nil` keeps every one.
        var fieldNames: Set<String>?
        var inPart = false
        private var name: String?
        private var fileName: String?
        private var content = ByteBuffer()

        func header(_ name: String, _ value: String) {
            inPart = true
            guard name.lowercased() == "content-disposition" else { return }
            let disposition = ParameterizedHeaderValue(value)
            self.name = disposition.parameters["name"]
            self.fileName = disposition.parameters["filename"]
        }

        func body(_ chunk: inout ByteBuffer) {
            inPart = true
            content.writeBuffer(&chunk)
        }

        func completePart() {
            defer {
                inPart = false
                name = nil
                fileName = nil
                content = ByteBuffer()
            }
            guard error == nil else { return }
            guard let name else {
                error = MultipartForm.malformed("Every part needs a Content-Disposition with a name")
                return
            }
            if fileName != nil || name == "file" {
                guard form.file == nil else {
                    error = ParleyError.invalidField(name, "Send at most one file")
                    return
                }
                form.file = content
            } else {
                // Unknown parts are ignored, as unknown JSON members are (repeated ones too).
                guard fieldNames?.contains(name) ?? !name.isEmpty else { return }
                guard form.fields[name] == nil else {
                    error = ParleyError.invalidField(name, "\(name) is sent more than once")
                    return
                }
                guard let text = content.getString(at: content.readerIndex, length: content.readableBytes),
                    text.utf8.elementsEqual(content.readableBytesView)
                else {
                    error = ParleyError.invalidField(name, "\(name) must be UTF-8 text")
                    return
                }
                form.fields[name] = text
            }
        }
    }

    static func malformed(_ message: String) -> ParleyError {
        ParleyError(.badRequest, code: "invalid_multipart", message: message)
    }

    /// The media type of a `Content-Type` value, lower-cased, without parameters.
    static func mediaType(_ contentType: String) -> String {
        let utf8 = contentType.utf8
        let type = utf8.prefix { $0 != UInt8(ascii: ";") }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let start = type.firstIndex { !isBlank($0) } ?? type.endIndex
        let end = type.lastIndex { !isBlank($0) }.map { utf8.index(after: $0) } ?? start
        guard start < end else { return "" }
        return String(decoding: utf8[start..<end].map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// The `boundary` parameter: 1 to 70 of the characters RFC 2046 allows (`bchars`: letters,
    /// digits, `'()+_,-./:=?` and space, not last).
    static func boundary(in contentType: String) -> String? {
        guard let value = ParameterizedHeaderValue(contentType).parameters["boundary"],
            (1...70).contains(value.utf8.count),
            value.utf8.allSatisfy(isBoundaryCharacter),
            value.utf8.last != UInt8(ascii: " ")
        else { return nil }
        return value
    }

    private static func isBoundaryCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default:
            "'()+_,-./:=? ".utf8.contains(byte)
        }
    }
}

/// A header value of the form `token; key=value; key="quoted value"`, as `Content-Disposition`
/// and `Content-Type` are written. Keys are lowercased; quoted values may escape with `\`.
struct ParameterizedHeaderValue {
    var type: String
    var parameters: [String: String] = [:]

    init(_ value: String) {
        var scalars = value.unicodeScalars[...]
        type = Self.token(&scalars).lowercased()
        while let next = scalars.first {
            scalars.removeFirst()
            guard next == ";" else { continue }
            Self.skipSpaces(&scalars)
            let key = Self.token(&scalars, stoppingAt: "=").lowercased()
            guard scalars.first == "=" else { continue }
            scalars.removeFirst()
            Self.skipSpaces(&scalars)
            let parsed: String
            if scalars.first == "\"" {
                scalars.removeFirst()
                var text = String.UnicodeScalarView()
                while let scalar = scalars.popFirst(), scalar != "\"" {
                    if scalar == "\\", let escaped = scalars.popFirst() {
                        text.append(escaped)
                    } else {
                        text.append(scalar)
                    }
                }
                parsed = String(text)
            } else {
                parsed = Self.token(&scalars)
            }
            if !key.isEmpty, parameters[key] == nil { parameters[key] = parsed }
        }
    }

    private static func skipSpaces(_ scalars: inout Substring.UnicodeScalarView) {
        while scalars.first == " " || scalars.first == "\t" { scalars.removeFirst() }
    }

    private static func token(
        _ scalars: inout Substring.UnicodeScalarView,
        stoppingAt stop: Unicode.Scalar = ";"
    ) -> String {
        var text = String.UnicodeScalarView()
        while let scalar = scalars.first, scalar != ";", scalar != stop {
            text.append(scalar)
            scalars.removeFirst()
        }
        return String(text).trimmingCharacters(in: " \t")
    }
}
