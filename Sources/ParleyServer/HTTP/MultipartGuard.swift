import NIOCore

/// Walks a `multipart/form-data` body beside MultipartKit's `MultipartParser`, byte for byte in
/// the parser's own states, and stops the body before the parser sees a byte that would crash it.
///
/// MultipartKit 4.7.1 looks every byte of a part-header name up in a 128-entry table: a byte of
/// 0x80 or more there is an index out of range, which traps (bounds checks stay on in release
/// builds) and takes the whole process down. No later MultipartKit is available to us, so this
/// guard runs in front of it. It mirrors the parser's transitions exactly (including how its
/// preamble matches the boundary), so that it knows when the parser is reading a header name;
/// a guard that found boundaries differently could fall out of step with the parser and miss
/// the one byte that matters. The differential fuzz target (`Fuzz/`) feeds random bodies to
/// both and fails if the parser traps on anything the guard let through.
///
/// It also bounds what the parser would otherwise collect without limit: the length of a
/// header line, the header lines of a part and the number of parts.
struct MultipartGuard {
    /// Most bytes in one part-header line (name, colon and value).
    static let maximumHeaderLineBytes = 8 * 1024
    /// Most header lines in one part.
    static let maximumHeadersPerPart = 16
    /// Most parts in one body (Parley's forms have at most four fields and a file).
    static let maximumParts = 16

    enum Failure: Error, Equatable {
        /// A byte the parser cannot read in a header name (it would trap on it).
        case headerNameByte(UInt8)
        /// A header line, the headers of a part, or the parts, over their bounds.
        case tooLarge
    }

    private enum State {
        case preamble(match: Int)
        /// Before a part's first header line: `cr` when the parser expects CR, else LF.
        case preHeaders(expectingCR: Bool)
        case headerName
        case headerValue
        case postHeaderValue
        case postHeaders
        case body
        case boundary(match: Int)
        case epilogue
    }

    /// `\r\n--boundary`, as the parser matches it.
    private let delimiter: [UInt8]
    private var state = State.preamble(match: 0)
    private var lineBytes = 0
    private var headers = 0
    private var parts = 0

    /// - Parameter boundary: the `boundary` parameter, already checked to be 1 to 70 of the
    ///   characters RFC 2046 allows (so neither CR, LF nor a byte over 0x7F).
    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    /// Follows `chunk` as the parser will read it next.
    /// - Throws: ``Failure`` at the first byte the parser must not get. Where the parser would
    ///   only report a syntax error, the guard lets it.
    mutating func check(_ chunk: ByteBuffer) throws(Failure) {
        try chunk.withUnsafeReadableBytes { bytes throws(Failure) in
            var index = bytes.startIndex
            while index < bytes.endIndex {
                if case .body = state {
                    // The bulk of a body: nothing to follow until the next CR.
                    guard let cr = bytes[index...].firstIndex(of: delimiter[0]) else { return }
                    index = cr
                }
                if case .epilogue = state { return }
                try step(bytes[index])
                index += 1
            }
        }
    }

    /// One byte, in the parser's terms (`MultipartParser.parsePreamble`, `parseCRLF`,
    /// `parseHeaderName`, `parseHeaderValue`, `parseBody`, `parseBoundary`).
    private mutating func step(_ byte: UInt8) throws(Failure) {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        switch state {
        case .preamble(var match):
            if match == 0, byte == delimiter[2] {
                match = 3
            } else if byte == delimiter[match] {
                match += 1
            } else if match > 0, byte == delimiter[0] {
                match = 1
            } else {
                match = 0
            }
            state = match >= delimiter.count ? try startPart(expectingCR: true) : .preamble(match: match)
        case .preHeaders(let expectingCR):
            // The parser throws on anything but CR then LF: nothing more to guard in this part.
            if expectingCR, byte == cr {
                state = .preHeaders(expectingCR: false)
            } else if !expectingCR, byte == lf {
                state = .headerName
                lineBytes = 0
            } else {
                state = .epilogue
            }
        case .headerName:
            if byte == UInt8(ascii: ":"), lineBytes > 0 {
                state = .headerValue
            } else if byte == cr, lineBytes == 0 {
                state = .postHeaders
                return
            } else if byte >= 0x80 {
                throw .headerNameByte(byte)
            }
            try countLineByte()
        case .headerValue:
            if byte == cr {
                state = .postHeaderValue
            } else {
                try countLineByte()
            }
        case .postHeaderValue:
            guard byte == lf else {
                state = .epilogue
                return
            }
            headers += 1
            guard headers <= Self.maximumHeadersPerPart else { throw .tooLarge }
            state = .headerName
            lineBytes = 0
        case .postHeaders:
            state = byte == lf ? .body : .epilogue
        case .body:
            if byte == delimiter[0] { state = .boundary(match: 1) }
        case .boundary(let match):
            if match >= delimiter.count {
                switch byte {
                case cr: state = try startPart(expectingCR: false)
                case UInt8(ascii: "-"): state = .epilogue
                default: state = .epilogue  // a syntax error to the parser
                }
            } else if byte == delimiter[match] {
                state = .boundary(match: match + 1)
            } else {
                state = byte == delimiter[0] ? .boundary(match: 1) : .body
            }
        case .epilogue:
            break
        }
    }

    private mutating func startPart(expectingCR: Bool) throws(Failure) -> State {
        parts += 1
        headers = 0
        guard parts <= Self.maximumParts else { throw .tooLarge }
        return .preHeaders(expectingCR: expectingCR)
    }

    private mutating func countLineByte() throws(Failure) {
        lineBytes += 1
        guard lineBytes <= Self.maximumHeaderLineBytes else { throw .tooLarge }
    }
}
