import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A minimal Socket.IO-over-WebSocket client made of one NIO channel handler: joins a namespace,
/// answers pings, reports events and acknowledgements. Light enough to run 10,000 of them beside
/// the server under test.
final class SocketIOBenchClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let connected: EventLoopPromise<Void>
    /// Called on the channel's event loop with the text of each event packet (`2[...]`, without the `4`).
    let onEvent: @Sendable (ByteBuffer) -> Void
    /// Called on the channel's event loop with each acknowledgement's id and arguments (`[...]`).
    let onAck: @Sendable (_ id: Int, _ arguments: ByteBuffer) -> Void
    /// Called on the channel's event loop with the CONNECT answer's payload (`{"sid":…}`).
    let onConnect: @Sendable (ByteBuffer) -> Void
    let namespace: String
    /// The CONNECT payload (`{"token":…}` for Parley).
    let connectPayload: String
    private(set) var channel: (any Channel)?
    private let silent = Atomic<Bool>(false)

    init(
        namespace: String = "/",
        connectPayload: String = "",
        connected: EventLoopPromise<Void>,
        onEvent: @escaping @Sendable (ByteBuffer) -> Void = { _ in },
        onAck: @escaping @Sendable (_ id: Int, _ arguments: ByteBuffer) -> Void = { _, _ in },
        onConnect: @escaping @Sendable (ByteBuffer) -> Void = { _ in }
    ) {
        self.namespace = namespace
        self.connectPayload = connectPayload
        self.connected = connected
        self.onEvent = onEvent
        self.onAck = onAck
        self.onConnect = onConnect
    }

    func handlerAdded(context: ChannelHandlerContext) {
        channel = context.channel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !silent.load(ordering: .relaxed) else { return }
        let frame = unwrapInboundIn(data)
        guard frame.opcode == .text else {
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        var text = frame.unmaskedData
        guard let type = text.readInteger(as: UInt8.self) else { return }
        switch type {
        case UInt8(ascii: "0"):
            send("40" + (namespace == "/" ? "" : namespace + ",") + connectPayload, context: context)
        case UInt8(ascii: "2"):
            send("3", context: context)
        case UInt8(ascii: "4"):
            guard let kind = text.getInteger(at: text.readerIndex, as: UInt8.self) else { return }
            switch kind {
            case UInt8(ascii: "0"):
                onConnect(text.getSlice(at: text.readerIndex + 1, length: text.readableBytes - 1) ?? ByteBuffer())
                connected.succeed()
            case UInt8(ascii: "2"): onEvent(text)
            case UInt8(ascii: "3"):
                text.moveReaderIndex(forwardBy: 1)
                var id = 0
                while let digit = text.getInteger(at: text.readerIndex, as: UInt8.self), digit >= UInt8(ascii: "0"),
                    digit <= UInt8(ascii: "9")
                {
                    text.moveReaderIndex(forwardBy: 1)
                    id = id * 10 + Int(digit - UInt8(ascii: "0"))
                }
                onAck(id, text)
            case UInt8(ascii: "4"): connected.fail(BenchError("connection refused: \(String(buffer: text))"))
            default: break
            }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connected.fail(BenchError("connection closed"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connected.fail(error)
        context.close(promise: nil)
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        let frame = WebSocketFrame(
            fin: true, opcode: .text, maskKey: .random(), data: context.channel.allocator.buffer(string: text))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    /// Sends an Engine.IO message (`4` + Socket.IO packet), from any thread.
    func emit(_ packet: String) {
        guard let channel else { return }
        let frame = WebSocketFrame(
            fin: true, opcode: .text, maskKey: .random(), data: channel.allocator.buffer(string: "4" + packet))
        channel.writeAndFlush(frame, promise: nil)
    }

    /// Stops reading and answering, pings included, as a client whose network went away: the
    /// connection stays open until the server gives up on it.
    func fallSilent() {
        silent.store(true, ordering: .relaxed)
    }

    /// Connection attempts that failed and were retried.
    static let retries = Atomic<Int>(0)

    /// Opens a WebSocket to `host:port` at `path` and waits until the namespace is joined, making
    /// up to `attempts` attempts.
    static func connect(
        host: String,
        port: Int,
        path: String = "/socket.io/?EIO=4&transport=websocket",
        group: any EventLoopGroup,
        attempts: Int = 5,
        makeHandler: @escaping @Sendable (EventLoopPromise<Void>) -> SocketIOBenchClient
    ) async throws -> SocketIOBenchClient {
        var attempt = 0
        while true {
            do {
                return try await connectOnce(host: host, port: port, path: path, group: group, makeHandler: makeHandler)
            } catch {
                attempt += 1
                retries.add(1, ordering: .relaxed)
                if attempt >= attempts { throw error }
            }
        }
    }

    private static func connectOnce(
        host: String,
        port: Int,
        path: String = "/socket.io/?EIO=4&transport=websocket",
        group: any EventLoopGroup,
        makeHandler: @escaping @Sendable (EventLoopPromise<Void>) -> SocketIOBenchClient
    ) async throws -> SocketIOBenchClient {
        let handlerBox = NIOLockedBox<SocketIOBenchClient?>(nil)
        let channelBox = NIOLockedBox<(any Channel)?>(nil)
        let upgraded = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .connect(host: host, port: port) { channel in
                channelBox.set(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let promise = channel.eventLoop.makePromise(of: Void.self)
                    let handler = makeHandler(promise)
                    handlerBox.set(handler)
                    let upgrader = NIOTypedWebSocketClientUpgrader<Bool>(
                        maxFrameSize: 1 << 24,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(handler)
                                return true
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(host):\(port)")
                    headers.add(name: "Content-Length", value: "0")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                    var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                        upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                            upgradeRequestHead: head,
                            upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(false) }
                        )
                    )
                    // The server's first frame often arrives together with the 101 response.
                    configuration.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: configuration
                    )
                }
            }
        // A failed attempt closes its connection: the next one (or the caller) starts afresh.
        do {
            guard try await upgraded.get(), let handler = handlerBox.get() else {
                throw BenchError("WebSocket upgrade refused")
            }
            let connected = handler.connected.futureResult
            let patience = connected.eventLoop.scheduleTask(in: .seconds(10)) {
                handler.connected.fail(BenchError("no answer to CONNECT in 10 s"))
            }
            defer { patience.cancel() }
            try await connected.get()
            return handler
        } catch {
            try? await channelBox.get()?.close()
            throw error
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A locked optional for handing a value out of a channel initializer.
final class NIOLockedBox<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func set(_ newValue: Value) { value.withLock { $0 = newValue } }
    func get() -> Value { value.withLock { $0 } }
}

/// Resident memory and CPU time of another process, from /proc.
struct ProcessStats {
    let pid: Int32

    var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes * 1024
    }

    /// User + system CPU seconds so far.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
        let utime = Double(fields[11]) ?? 0
        let stime = Double(fields[12]) ?? 0
        return (utime + stime) / 100
    }
}
