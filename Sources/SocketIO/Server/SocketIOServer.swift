import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// A Socket.IO v5 server (Engine.IO v4 underneath) that stock `socket.io-client`s talk to.
///
/// ```swift
/// let io = SocketIOServer(path: "/socket.io/")
/// io.main.onConnection { socket in
///     socket.on("echo") { arguments, ack in ack?.send(arguments) }
/// }
/// router.addEngineIORoutes(io.engine)                              // polling
/// Application(router: router, server: .http1WithEngineIO([io.engine]))  // WebSocket
/// ```
public final class SocketIOServer: Sendable {
    public let configuration: SocketIOConfiguration
    /// The Engine.IO server carrying the connections; hand it to the HTTP server and router.
    public let engine: EngineIOServer
    let namespaces: NamespaceRegistry

    /// - Parameters:
    ///   - requestCheck: decides on each request that opens a connection or a WebSocket (origin,
    ///     cookies); a denial answers 403 before any Socket.IO packet is exchanged.
    ///   - sessionBinding: ties each connection to its client, so that its session id alone is
    ///     not enough to use it (see ``EngineSessionBinding``).
    ///   - adapter: makes the adapter of each namespace (in-memory by default).
    public init(
        path: String = "/socket.io/",
        configuration: SocketIOConfiguration = .init(),
        requestCheck: (@Sendable (EngineRequest) async -> EngineRequestVerdict)? = nil,
        sessionBinding: (@Sendable (EngineRequest) -> EngineSessionBinding)? = nil,
        adapter: @escaping @Sendable (_ namespace: String) -> any SocketIOAdapter = { _ in InMemoryAdapter() }
    ) {
        let namespaces = NamespaceRegistry(adapter: adapter, recovery: configuration.connectionStateRecovery)
        self.configuration = configuration
        self.namespaces = namespaces
        self.engine = EngineIOServer(
            path: path,
            configuration: configuration.engine,
            requestCheck: requestCheck,
            sessionBinding: sessionBinding,
            onConnection: { session in
                let client = SocketIOClient(session: session, namespaces: namespaces, configuration: configuration)
                session.setDelegate(client)
                client.start()
            }
        )
        _ = namespaces.of("/")
    }

    /// The main namespace, `/`.
    public var main: SocketNamespace { namespaces.of("/") }

    /// The namespace `name`, created on first use. Clients asking for one that was never created
    /// get `Invalid namespace`.
    public func of(_ name: String) -> SocketNamespace {
        namespaces.of(name.hasPrefix("/") ? name : "/" + name)
    }

    /// Closes every connection, telling clients (they reconnect, to this or another server).
    public func closeAll(reason: EngineCloseReason = .serverShuttingDown) {
        engine.closeAll(reason: reason)
    }

    /// Stops accepting connections, closes every one (clients reconnect elsewhere), and returns
    /// when their sessions are gone and every socket's disconnect handlers have run, or after
    /// `timeout`. Call it before shutting down what those handlers use.
    public func shutdown(timeout: Duration = .seconds(10)) async {
        engine.beginShutdown()
        let deadline = ContinuousClock.now + timeout
        await engine.waitUntilEmpty(until: deadline)
        await namespaces.waitUntilNoSockets(until: deadline)
    }
}

/// The namespaces of a server, shared with its connections, and a count of live sockets (so a
/// shutdown can wait for their disconnect handlers).
final class NamespaceRegistry: Sendable {
    private let namespaces = NIOLockedValueBox<[String: SocketNamespace]>([:])
    private let makeAdapter: @Sendable (String) -> any SocketIOAdapter
    private let liveSockets = NIOLockedValueBox(0)
    let recovery: ConnectionStateRecovery?

    init(adapter: @escaping @Sendable (String) -> any SocketIOAdapter, recovery: ConnectionStateRecovery? = nil) {
        self.makeAdapter = adapter
        self.recovery = recovery
    }

    func namespace(named name: String) -> SocketNamespace? {
        namespaces.withLockedValue { $0[name] }
    }

    func of(_ name: String) -> SocketNamespace {
        if let existing = namespace(named: name) { return existing }
        // The adapter factory is the application's code: not called under the lock.
        let created = SocketNamespace(name: name, adapter: makeAdapter(name), recovery: recovery)
        return namespaces.withLockedValue { namespaces in
            if let existing = namespaces[name] { return existing }
            namespaces[name] = created
            return created
        }
    }

    func socketJoined() { liveSockets.withLockedValue { $0 += 1 } }
    func socketLeft() { liveSockets.withLockedValue { $0 -= 1 } }

    /// Sockets that joined and whose disconnect handlers have not finished.
    var liveSocketCount: Int { liveSockets.withLockedValue { $0 } }

    func waitUntilNoSockets(until deadline: ContinuousClock.Instant) async {
        // A shutdown-time wait, bounded: checking every few milliseconds is simple and enough.
        while liveSocketCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

extension RouterMethods {
    /// Routes HTTP long-polling (and Engine.IO's HTTP error answers) to `engine`. The context
    /// must expose its connection's channel, so a poll whose client goes away can be noticed.
    @discardableResult
    public func addEngineIORoutes(_ engine: EngineIOServer) -> Self where Context: EngineIORequestContext {
        let path = RouterPath(engine.path)
        // Every method: the protocol answers each (a handshake other than GET is 400), and a
        // router that made HEAD from GET would open sessions nobody reads.
        for method in [HTTPRequest.Method.get, .head, .post, .put, .delete, .patch, .options] {
            on(path, method: method) { request, context in
                await engine.respond(to: request, channel: context.channel)
            }
        }
        return self
    }
}

/// A request context that knows its connection's channel.
public protocol EngineIORequestContext: RequestContext {
    var channel: any Channel { get }
}
