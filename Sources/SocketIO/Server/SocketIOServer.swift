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
    private let namespaces: NamespaceRegistry

    /// - Parameters:
    ///   - requestCheck: decides on each request that opens a connection or a WebSocket (origin,
    ///     cookies); a denial answers 403 before any Socket.IO packet is exchanged.
    ///   - adapter: makes the adapter of each namespace (in-memory by default).
    public init(
        path: String = "/socket.io/",
        configuration: SocketIOConfiguration = .init(),
        requestCheck: (@Sendable (EngineRequest) async -> EngineRequestVerdict)? = nil,
        adapter: @escaping @Sendable (_ namespace: String) -> any SocketIOAdapter = { _ in InMemoryAdapter() }
    ) {
        let namespaces = NamespaceRegistry(adapter: adapter)
        self.configuration = configuration
        self.namespaces = namespaces
        self.engine = EngineIOServer(
            path: path,
            configuration: configuration.engine,
            requestCheck: requestCheck,
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
}

/// The namespaces of a server, shared with its connections.
final class NamespaceRegistry: Sendable {
    private let namespaces = NIOLockedValueBox<[String: SocketNamespace]>([:])
    private let makeAdapter: @Sendable (String) -> any SocketIOAdapter

    init(adapter: @escaping @Sendable (String) -> any SocketIOAdapter) {
        self.makeAdapter = adapter
    }

    func namespace(named name: String) -> SocketNamespace? {
        namespaces.withLockedValue { $0[name] }
    }

    func of(_ name: String) -> SocketNamespace {
        namespaces.withLockedValue { namespaces in
            if let existing = namespaces[name] { return existing }
            let created = SocketNamespace(name: name, adapter: makeAdapter(name))
            namespaces[name] = created
            return created
        }
    }
}

extension RouterMethods {
    /// Routes HTTP long-polling (and Engine.IO's HTTP error answers) to `engine`. The context
    /// must expose its connection's channel, so a poll whose client goes away can be noticed.
    @discardableResult
    public func addEngineIORoutes(_ engine: EngineIOServer) -> Self where Context: EngineIORequestContext {
        let path = RouterPath(engine.path)
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
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
