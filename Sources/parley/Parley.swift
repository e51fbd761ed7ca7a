import ArgumentParser
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOPosix
import ParleyChat
import ParleyDomain
import ParleyServer
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The `parley` command: serve the chat API, migrate a database, copy data between stores.
@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A real-time chat backend: REST API, Socket.IO and PostgreSQL, MongoDB or SQLite storage.",
        discussion: """
            Configuration comes from the environment and from a .env file in the working \
            directory (see .env.example). With no command, `parley` serves.
            """,
        subcommands: [Serve.self, Migrate.self, Copy.self],
        defaultSubcommand: Serve.self
    )
}

/// Options shared by every command that reads the server configuration.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: "Read settings from this file in addition to the environment.")
    var envFile: String = ".env"

    /// Loads and validates the configuration, turning a bad value into a clear exit.
    func load() async throws -> ParleyConfiguration {
        do {
            return try await ParleyConfiguration.fromEnvironment(dotEnvPath: envFile)
        } catch let error as ConfigurationError {
            throw ValidationError("configuration error: \(error)")
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API and realtime server (the default command)."
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(name: .long, help: "Listen on this port (overrides PORT).")
    var port: Int?

    @Option(name: .long, help: "Listen on this address (overrides HOST).")
    var host: String?

    @Flag(
        inversion: .prefixedNo,
        help: """
            Run all of Swift Concurrency's tasks on SwiftNIO's event loops: a third lower \
            maximum rate, and little saved at everyday rates (off by default; see \
            docs/benchmarks.md).
            """
    )
    var tasksOnEventLoops = false

    func run() async throws {
        // Off by default. HTTP connections, store calls and the LISTEN reader already run as
        // tasks preferring their event loops (EventLoopExecutor); this moves every other task
        // there too. At saturation everything then queued on the two event loops and the best
        // REST rate fell by a third; at 500 messages/s it now saves about one thread switch
        // in five per message (docs/benchmarks.md#everyday-load-cpu-per-message). Nothing in
        // the server blocks a task: bcrypt, SQLite and libmongoc run on thread pools of their own.
        if tasksOnEventLoops {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        var configuration = try await options.load()
        if let port {
            guard (1...65535).contains(port) else { throw ValidationError("--port must be from 1 to 65535") }
            configuration.server.port = port
        }
        if let host { configuration.server.host = host }
        let logger = Logging.bootstrap(level: configuration.logging.level, format: configuration.logging.format)
        if let files = FileDescriptorLimit.raiseToHardLimit() {
            logger.debug("Open files allowed", metadata: ["limit": "\(files)"])
            do {
                if let lowered = try configuration.realtime.fit(openFileLimit: files) {
                    logger.notice(
                        "Socket.IO connections limited by the open-file limit",
                        metadata: ["SOCKET_MAX_CONNECTIONS": "\(lowered)", "ulimit -n": "\(files)"])
                }
            } catch let error as ConfigurationError {
                throw ValidationError("configuration error: \(error)")
            }
        }
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        do {
            let (application, _) = try await ParleyApplication.build(
                configuration: configuration, metrics: metrics, logger: logger)
            // SIGTERM/SIGINT start a graceful shutdown: no new connections, requests in flight
            // finish, sockets are closed so that clients reconnect (to another instance); what
            // is still running after the timeout is cancelled.
            var group = ServiceGroupConfiguration(
                services: [application],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
            group.maximumGracefulShutdownDuration = configuration.server.shutdownTimeout
            group.maximumCancellationDuration = .seconds(5)
            try await ServiceGroup(configuration: group).run()
        } catch let error as ConfigurationError {
            throw ValidationError("configuration error: \(error)")
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the configured database's schema up to date, then exit.",
        discussion: "The server also does this at startup; running it twice, or beside a starting server, is safe."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try await options.load()
        let logger = Logging.bootstrap(level: configuration.logging.level, format: configuration.logging.format)
        let store = try await ParleyApplication.makeStore(configuration, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            for service in store.servicesForMigration {
                group.addTask { try await service.run() }
            }
            try await store.migrate()
            logger.info("Schema is up to date", metadata: ["store": "\(store.displayName)"])
            group.cancelAll()
        }
    }
}

enum Logging {
    /// Sends logs to standard error at `level`, as JSON lines or text, and returns the server's
    /// logger.
    static func bootstrap(level: Logger.Level, format: LogFormat = .auto) -> Logger {
        let json = format.writesJSON
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "parley")
        logger.logLevel = level
        return logger
    }
}
