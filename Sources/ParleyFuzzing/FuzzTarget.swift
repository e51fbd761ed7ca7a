import HTTPTypes
import Hummingbird
import JSONText
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket
import ParleyChat
import ParleyDomain
import ParleyPostgres
import ParleyServer
import SocketIO

#if MongoDB
import ParleyMongo
#endif

/// Every parser of bytes from the network, behind one entry point per parser, for fuzzing: the
/// libFuzzer driver in `Fuzz/` calls ``run(_:)`` with each input it makes, and the test suite
/// replays the committed corpus (`Fuzz/Corpus/<target>`) through the same functions.
///
/// A target returns normally for any input, valid or not; it traps only when something is wrong:
/// the code under test crashed, or a property that must hold for every input did not (what one
/// writer writes, its reader reads back unchanged).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// JSON text through `JSONReader`; what it accepts, `JSONWriter` writes back identically.
    case json
    /// Engine.IO packets (WebSocket frames) and long-polling payloads.
    case enginePacket = "engine-packet"
    /// Socket.IO packets, attachments included: the first byte says how many binary messages
    /// follow the text one, the rest is split at 0xFF bytes.
    case socketPacket = "socket-packet"
    /// `multipart/form-data` bodies through Parley's own entry point (the guard, MultipartKit's
    /// parser, the form reader), in chunks cut at 0xFE bytes.
    case multipart
    /// `Cookie` and `Authorization` headers, as Parley reads its session token from them.
    case headers
    /// JWTs, verified by `TokenService` with a fixed secret.
    case jwt
    /// Text escaped for PostgreSQL's `COPY`: unescaped again, it is what went in.
    case copyText = "copy-text"
    /// BSON documents read with libbson (a server's replies); what it reads, Parley writes back
    /// and reads identically.
    case bson
    /// Raw bytes on an HTTP connection: NIO's decoder and ``HTTPConnectionGuard``.
    case http
    /// The small fields a client sends: ids, dates, cursors, emails, names, texts, data URIs.
    case fields
    /// A WebSocket connection's bytes through ``WebSocketFrameReader`` and through NIO's
    /// `WebSocketFrameDecoder`, in the same pieces (the first byte sets their size): both must
    /// give the same frames and fail at the same frame, with the same close code.
    case webSocketFrame = "websocket-frame"

    /// Runs one input. Asynchronous because verifying a JWT is; the libFuzzer driver waits for it
    /// on its own thread, never on one of the concurrency pool's.
    public func run(_ input: [UInt8]) async {
        if self == .jwt {
            await Self.jwt(input)
            return
        }
        input.withUnsafeBytes { bytes in
            switch self {
            case .json: Self.json(bytes)
            case .enginePacket: Self.enginePacket(bytes)
            case .socketPacket: Self.socketPacket(bytes)
            case .multipart: Self.multipart(bytes)
            case .headers: Self.headers(bytes)
            case .jwt: break
            case .copyText: Self.copyText(bytes)
            case .bson: Self.bson(bytes)
            case .http: Self.http(bytes)
            case .fields: Self.fields(bytes)
            case .webSocketFrame: Self.webSocketFrame(bytes)
            }
        }
    }

    private static func webSocketFrame(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let pieceSize = Int(first % 32) + 1
        let maxFrameSize = 1_000
        var reader = WebSocketFrameReader(maxFrameSize: maxFrameSize)
        let nio = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize)))
        var ours: [WebSocketFrame] = []
        var theirs: [WebSocketFrame] = []
        var ourFailure: WebSocketErrorCode?
        var theirFailure: WebSocketErrorCode?
        var rest = bytes.dropFirst()
        while !rest.isEmpty {
            let piece = ByteBuffer(bytes: rest.prefix(pieceSize))
            rest = rest.dropFirst(pieceSize)
            if ourFailure == nil {
                reader.append(piece)
                reading: while true {
                    switch reader.next() {
                    case .frame(let frame): ours.append(frame)
                    case .needMoreBytes: break reading
                    case .failed(let code):
                        ourFailure = code
                        break reading
                    }
                }
            }
            if theirFailure == nil {
                do {
                    try nio.writeInbound(piece)
                } catch let error as NIOWebSocketError {
                    theirFailure = error == .invalidFrameLength ? .messageTooLarge : .protocolError
                } catch {
                    preconditionFailure("NIO's decoder failed with \(error)")
                }
                while let frame = try? nio.readInbound(as: WebSocketFrame.self) { theirs.append(frame) }
            }
        }
        precondition(ours == theirs, "WebSocketFrameReader and NIO's decoder read different frames")
        precondition(ourFailure == theirFailure, "WebSocketFrameReader and NIO's decoder failed differently")
    }

    private static func text(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    private static func json(_ bytes: UnsafeRawBufferPointer) {
        guard let value = try? SocketValue.parse(bytes) else { return }
        let written = value.jsonBytes()
        let again = written.withUnsafeBytes { try? SocketValue.parse($0) }
        precondition(again?.jsonBytes() == written, "JSON did not survive a write and a read")
    }

    private static func enginePacket(_ bytes: UnsafeRawBufferPointer) {
        let buffer = ByteBuffer(bytes: bytes)
        if let packet = try? EnginePacket.decode(text: buffer, allowBase64Binary: true) {
            let encoded = EnginePayload.encode([packet])
            let again = try? EnginePacket.decode(text: encoded, allowBase64Binary: true)
            precondition(again == packet, "an Engine.IO packet did not survive an encode and a decode")
        }
        let (packets, _) = EnginePayload.decode(buffer)
        _ = EnginePayload.encode(packets)
    }

    private static func socketPacket(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let parts = bytes.dropFirst().split(separator: 0xFF, omittingEmptySubsequences: false)
        var decoder = SocketPacketDecoder(maxAttachments: 10, maxAttachmentBytes: 100_000)
        for (index, part) in parts.enumerated() {
            let buffer = ByteBuffer(bytes: part)
            let message: EngineMessage = index == 0 || index > Int(first % 4) ? .text(buffer) : .binary(buffer)
            guard let decoded = try? decoder.decode(message) else { continue }
            // What decodes, encodes.
            _ = decoded.packet.encode()
        }
    }

    private static func multipart(_ bytes: UnsafeRawBufferPointer) {
        let chunks = bytes.split(separator: 0xFE, omittingEmptySubsequences: false).map { ByteBuffer(bytes: $0) }
        _ = try? MultipartForm.parse(
            chunks: chunks, contentType: "multipart/form-data; boundary=X", limit: 1_000_000)
    }

    private static func headers(_ bytes: UnsafeRawBufferPointer) {
        let value = text(bytes)
        _ = Cookies(from: [value])["jwt"]?.value
        _ = SessionCookie.bearerToken(in: value)
    }

    /// One token service for every input (building one adds a key to a collection).
    private static let tokens = Task { try await TokenService(secret: String(repeating: "s", count: 32)) }

    private static func jwt(_ input: [UInt8]) async {
        let token = String(decoding: input, as: UTF8.self)
        guard let tokens = try? await tokens.value else { preconditionFailure("no token service") }
        _ = try? await tokens.verify(token)
    }

    private static func copyText(_ bytes: UnsafeRawBufferPointer) {
        // COPY text cannot carry NUL: PostgreSQL's text type has none.
        let value = text(bytes).split(separator: "\u{0}", omittingEmptySubsequences: false).joined()
        var copy = PostgresCopyText()
        copy.append(value)
        copy.append(nil as String?)
        copy.endRow()
        let row = String(buffer: copy.buffer)
        precondition(row.hasSuffix("\t\\N\n"), "a row does not end as COPY expects")
        let column = String(row.dropLast(4))
        precondition(!column.contains("\t") && !column.contains("\n"), "an escaped value breaks COPY's framing")
        precondition(unescapeCopy(column) == value, "COPY text did not survive an escape and an unescape")
    }

    /// The text format's unescaping, as PostgreSQL reads it.
    private static func unescapeCopy(_ text: String) -> String {
        var output = ""
        var iterator = text.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            guard scalar == "\\" else {
                output.unicodeScalars.append(scalar)
                continue
            }
            switch iterator.next() {
            case "n": output += "\n"
            case "r": output += "\r"
            case "t": output += "\t"
            case "\\": output += "\\"
            case let other?: output.unicodeScalars.append(other)
            case nil: output += "\\"
            }
        }
        return output
    }

    private static func bson(_ bytes: UnsafeRawBufferPointer) {
        #if MongoDB
        guard let document = try? BSONDocument(bytes: bytes) else { return }
        // Compared as bytes: a NaN double is never equal to itself.
        let written = document.bytes
        let again = try? BSONDocument(bytes: written)
        precondition(again?.bytes == written, "a BSON document did not survive a write and a read")
        #endif
    }

    private static func http(_ bytes: UnsafeRawBufferPointer) {
        // The guard's clock reads the loop, not the channel: a closure holding the channel would
        // keep the channel, its pipeline and the guard alive for good.
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        defer {
            _ = try? channel.finish()
            // Drops what is still scheduled: the loop, its tasks and the channel go together.
            try? loop.syncShutdownGracefully()
        }
        do {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
            try channel.pipeline.syncOperations.addHandler(HTTPConnectionGuard(limits: .init(), now: { loop.now }))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            // Whatever arrives, in two reads.
            let middle = bytes.count / 2
            for part in [bytes[..<middle], bytes[middle...]] {
                try channel.writeInbound(ByteBuffer(bytes: part))
                while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
                    if case .end = part {
                        try channel.writeOutbound(
                            HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
                        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
                    }
                }
            }
        } catch {
            // Refused input is fine (a read after the guard closed the connection throws); only
            // a trap is a finding.
        }
        // Whatever happened, the connection ends within every time limit.
        loop.run()
        loop.advanceTime(by: .seconds(120))
        precondition(!channel.isActive, "an HTTP connection outlived every time limit")
    }

    private static func fields(_ bytes: UnsafeRawBufferPointer) {
        let value = text(bytes)
        _ = ObjectID(value)
        if let time = Timestamp(iso8601: value) {
            precondition(
                Timestamp(iso8601: time.iso8601) == time
                    || !(-8_640_000_000_000_000...8_640_000_000_000_000).contains(
                        time.millisecondsSince1970),
                "a date did not survive a format and a parse")
        }
        _ = try? SidebarCursor.decode(value)
        _ = try? Validation.email(value)
        _ = try? Validation.name(value)
        _ = try? Validation.messageText(value)
        _ = try? Validation.newPassword(value)
        _ = try? ImageValidator(maximumBytes: 1_000_000).validate(.dataURI(value), field: "image")
    }
}
