import ArgumentParser
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import SocketIO

/// A Socket.IO server configured the way the official Engine.IO v4 and Socket.IO v5 protocol test
/// suites expect their reference server, plus `echo` and `broadcast` handlers for benchmarks.
///
/// - `/socket.io/`: namespaces `/` and `/custom`; on connect each emits `auth` with the CONNECT
///   payload; on `/`, `message` is answered with `message-back` (same arguments),
///   `message-with-ack` and `echo` are acknowledged with the same arguments, and `broadcast`
///   makes the server emit `broadcast` with the same arguments to every connected socket.
/// - `/engine.io/`: a bare Engine.IO endpoint that echoes every message.
/// - `/test`: handlers the repository's integration tests use (refused connections with data,
///   rooms, server-to-client acknowledgements); the official suites never touch it.
@main
struct SocketIOConformance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socketio-conformance",
        abstract: "Socket.IO server for the official protocol test suites and for benchmarks."
    )

    @Option(help: "Port to listen on.") var port = 3000
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Flag(help: "Use the test suites' settings: ping 300/200 ms, max payload 1e6, connect timeout 1 s.")
    var conformance = false
    @Option(help: "Ping interval in ms (default 25000, or 300 with --conformance).") var pingInterval: Int?
    @Option(help: "Ping timeout in ms (default 20000, or 200 with --conformance).") var pingTimeout: Int?
    @Option(help: "trace, debug, info, warning, error.") var logLevel = "warning"
    @Option(help: "Turn on connection-state recovery for this many seconds (off by default).")
    var recoverySeconds: Int?
    @Flag(
        inversion: .prefixedNo,
        help: "Run Swift Concurrency's jobs on SwiftNIO's event loops, as parley serve --tasks-on-event-loops does."
    )
    var tasksOnEventLoops = false

    func run() async throws {
        if tasksOnEventLoops {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        var settings = SocketIOConfiguration()
        if conformance {
            settings.engine.pingInterval = .milliseconds(300)
            settings.engine.pingTimeout = .milliseconds(200)
            settings.engine.maxPayload = 1_000_000
            settings.connectTimeout = .seconds(1)
        }
        if let pingInterval { settings.engine.pingInterval = .milliseconds(pingInterval) }
        if let pingTimeout { settings.engine.pingTimeout = .milliseconds(pingTimeout) }
        if let recoverySeconds {
            guard recoverySeconds > 0 else { throw ValidationError("--recovery-seconds must be positive") }
            settings.connectionStateRecovery = ConnectionStateRecovery(
                maxDisconnectionDuration: .seconds(recoverySeconds))
        }

        let io = SocketIOServer(path: "/socket.io/", configuration: settings)
        io.main.onConnection { socket in
            socket.emit("auth", socket.handshake.auth)
            socket.on("message") { arguments, _ in
                socket.emit("message-back", arguments: arguments)
            }
            socket.on("message-with-ack") { arguments, ack in
                ack?.send(arguments)
            }
            socket.on("echo") { arguments, ack in
                ack?.send(arguments)
            }
            socket.on("broadcast") { arguments, _ in
                io.main.all.emit("broadcast", arguments: arguments)
            }
        }
        io.of("/custom").onConnection { socket in
            socket.emit("auth", socket.handshake.auth)
        }
        TestNamespace.install(on: io)
        let echo = EngineIOServer(path: "/engine.io/", configuration: settings.engine) { session in
            session.setDelegate(EchoDelegate())
        }

        var logger = Logger(label: "socketio-conformance")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let router = Router(context: ConformanceContext.self)
        router.addEngineIORoutes(io.engine)
        router.addEngineIORoutes(echo)
        let application = Application(
            router: router,
            server: .http1WithEngineIO([io.engine, echo]),
            configuration: .init(address: .hostname(host, port: port), serverName: "socketio-conformance"),
            logger: logger
        )
        try await application.runService()
    }
}

/// Echoes every Engine.IO message back, text as text and binary as binary.
final class EchoDelegate: EngineSessionDelegate {
    func engineSession(_ session: EngineSession, didReceive message: EngineMessage) {
        session.send(message)
    }

    func engineSession(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {}
}

struct ConformanceContext: RequestContext, EngineIORequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
