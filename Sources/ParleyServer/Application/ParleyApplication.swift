import Cloudinary
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ParleyChat
import ParleyDomain
import ParleyMedia
import ParleyPostgres
import ParleySQLite
import Prometheus
import ServiceLifecycle
import SocketIO
import SystemPackage

#if MongoDB
import ParleyMongo
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Builds the Parley server from a configuration. The `parley` executable and the tests both
/// call this, so tests exercise exactly what runs in production.
public enum ParleyApplication {
    /// The parts of a built server that tests and tools may need directly.
    public struct Components: Sendable {
        public let store: any ChatStore
        public let auth: AuthService
        public let messages: MessageService
        public let groups: GroupService
        public let media: any MediaStore
        public let presence: PresenceService
        public let realtime: RealtimeHub
        /// Every route, as `METHOD /path/{parameter}`: what the OpenAPI document must describe.
        public internal(set) var routes: [String] = []
    }

    /// - Parameter metrics: where the metrics recorded through swift-metrics end up (the registry
    ///   the process bootstrapped `MetricsSystem` with), served at `/metrics` when
    ///   `METRICS_TOKEN` is set.
    public static func build(
        configuration: ParleyConfiguration,
        metrics: PrometheusCollectorRegistry? = nil,
        logger: Logger
    ) async throws -> (application: some ApplicationProtocol, components: Components) {
        let store = try await makeStore(configuration, logger: logger)
        let media = try await makeMediaStore(configuration, logger: logger)

        let secret =
            try configuration.auth.jwtSecret
            ?? DevelopmentSecret.loadOrCreate(in: configuration.dataDirectory, logger: logger)
        let tokens = try await TokenService(secret: secret)
        let hashingPool = NIOThreadPool(numberOfThreads: max(2, NIOCore.System.coreCount))
        hashingPool.start()
        let passwords = PasswordHasher(cost: configuration.auth.bcryptCost, threadPool: hashingPool)
        let images = ImageValidator(maximumBytes: configuration.messages.maximumImageBytes)

        let auth = AuthService(
            users: store,
            revocations: store,
            bus: store.bus,
            passwords: passwords,
            tokens: tokens,
            media: media,
            images: images,
            logger: logger
        )
        let presence = PresenceService(
            backend: store.presence,
            bus: store.bus,
            grace: configuration.realtime.presenceGrace,
            logger: logger
        )
        let messages = MessageService(
            users: store,
            messages: store,
            media: media,
            images: images,
            presence: presence,
            bus: store.bus,
            editWindow: configuration.messages.editWindow,
            logger: logger
        )
        let groups = GroupService(
            users: store, groups: store, messages: store, media: media, images: images, presence: presence,
            bus: store.bus, limits: configuration.messages.groupLimits, editWindow: configuration.messages.editWindow,
            logger: logger)
        var socketOrigins = Set(configuration.server.corsOrigins)
        if !configuration.server.publicURL.isEmpty { socketOrigins.insert(configuration.server.publicURL) }
        let realtime = RealtimeHub(
            auth: auth,
            messages: messages,
            groups: groups,
            presence: presence,
            bus: store.bus,
            eventLog: store.eventLog,
            sessionSecret: secret,
            allowedOrigins: socketOrigins,
            trustProxy: configuration.server.trustProxy,
            settings: configuration.realtime,
            logger: logger
        )
        var components = Components(
            store: store,
            auth: auth,
            messages: messages,
            groups: groups,
            media: media,
            presence: presence,
            realtime: realtime
        )

        let router = Router(context: ParleyRequestContext.self, options: .autoGenerateHeadEndpoints)
        let knownRoutes = KnownRoutes()
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: CORSPolicy(allowedOrigins: Set(configuration.server.corsOrigins)))
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware(routes: knownRoutes))
        router.add(middleware: UploadsGuard())
        router.add(middleware: OffEventLoop(forBodiesOver: largeBodyBytes))
        router.add(
            middleware: FileMiddleware(
                configuration.uploadsDirectory,
                urlBasePath: "/uploads",
                cacheControl: .init([(MediaType(type: .any), [.public, .maxAge(31_536_000)])]),
                logger: logger
            )
        )
        HealthController(store: store).addRoutes(to: router)
        OpenAPIController().addRoutes(to: router)
        if let metrics, let token = configuration.server.metricsToken {
            MetricsController(registry: metrics, token: token, engine: realtime.io.engine, presence: presence)
                .addRoutes(to: router)
        }
        router.addEngineIORoutes(realtime.io.engine)
        AuthController(
            auth: auth,
            groups: groups,
            exporter: AccountExporter(messages: store),
            cookie: SessionCookie(secure: configuration.environment == .production),
            rateLimit: AuthRateLimit(
                limiter: RateLimiter(),
                perAddress: .init(limit: configuration.auth.attemptsPerAddress, per: .seconds(60)),
                perAddressAndEmail: .init(limit: configuration.auth.attemptsPerAddressAndEmail, per: .seconds(60)),
                perEmail: .init(limit: configuration.auth.attemptsPerEmailPerHour, per: .seconds(3600)),
                trustProxy: configuration.server.trustProxy
            ),
            bodyLimit: configuration.messages.requestBodyLimit
        ).addRoutes(to: router.group("api/auth"))
        MessageController(messages: messages, auth: auth, bodyLimit: configuration.messages.requestBodyLimit)
            .addRoutes(to: router.group("api/message"))
        GroupController(groups: groups, auth: auth, bodyLimit: configuration.messages.requestBodyLimit)
            .addRoutes(to: router.group("api/groups"))
        ConversationController(
            conversations: ConversationList(messages: store, groups: store, presence: presence), auth: auth
        ).addRoutes(to: router.group("api/conversations"))

        let migrated = MigrationGate()
        var application = Application(
            router: router,
            server: .http1WithEngineIO([realtime.io.engine], limits: configuration.server.httpLimits),
            configuration: .init(
                address: .hostname(configuration.server.host, port: configuration.server.port),
                serverName: "Parley"
            ),
            // Shut down in reverse: the server (its sockets told to reconnect), then realtime,
            // presence, the store (this instance leaves presence), the hashing pool.
            services: [ThreadPoolService(pool: hashingPool)] + store.services
                + [AfterMigration(gate: migrated, service: auth.revocationService), presence, realtime],
            logger: logger
        )
        application.beforeServerStarts {
            try await store.migrate()
            migrated.open()
            logger.info(
                "Parley is ready",
                metadata: [
                    "store": "\(store.displayName)",
                    "media": "\(media.displayName)",
                    "environment": "\(configuration.environment.rawValue)",
                ]
            )
        }
        knownRoutes.set(router.routes.map { ($0.path, $0.method) })
        components.routes = router.routes.map { "\($0.method) \($0.path)" }
        return (application, components)
    }

    /// The media store the configuration names: Cloudinary, or a directory (created if needed).
    static func makeMediaStore(_ configuration: ParleyConfiguration, logger: Logger) async throws -> any MediaStore {
        switch configuration.media {
        case .local:
            let local = LocalMediaStore(
                directory: .init(configuration.uploadsDirectory),
                publicBaseURL: configuration.server.publicURL
            )
            try await local.prepare()
            return local
        case .cloudinary(let cloudinary, let folder):
            logger.notice(
                "Images go to Cloudinary",
                metadata: [
                    "cloudinary.cloud": "\(cloudinary.credentials.cloudName)",
                    "cloudinary.api_key": "\(cloudinary.credentials.apiKey)",
                    "cloudinary.upload_prefix": "\(cloudinary.uploadPrefix)",
                    "cloudinary.folder": "\(folder ?? "(none)")",
                    "cloudinary.signature": "\(cloudinary.signatureAlgorithm.rawValue)",
                ]
            )
            return CloudinaryMediaStore(
                client: CloudinaryClient(configuration: cloudinary, logger: logger),
                folder: folder,
                logger: logger
            )
        }
    }

    /// Opens the store the configuration names (not yet running: run it as a service).
    public static func makeStore(_ configuration: ParleyConfiguration, logger: Logger) async throws -> any ChatStore {
        switch configuration.store {
        case .sqlite(let path):
            let directory = FilePath(path).removingLastComponent()
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory.string, withIntermediateDirectories: true)
            }
            logger.notice(
                "Using SQLite: single instance, realtime events stay in this process",
                metadata: ["path": "\(path)"]
            )
            return try await SQLiteStore.open(path: path, logger: logger)
        case .postgres(let url, let poolSize, let timeout, let linger):
            return PostgresStore(
                url: url,
                maximumConnections: poolSize,
                operationTimeout: timeout,
                heartbeat: configuration.realtime.heartbeat,
                presenceTTL: configuration.realtime.presenceTTL,
                messageLinger: linger,
                logger: logger
            )
        #if MongoDB
        case .mongodb(let connectionString, let poolSize, let cluster):
            logger.notice(
                "Using MongoDB",
                metadata: ["uri": "\(connectionString.displayName)", "database": "\(connectionString.database)"]
            )
            return try MongoStore(
                connectionString,
                size: poolSize,
                cluster: cluster,
                heartbeat: configuration.realtime.heartbeat,
                presenceTTL: configuration.realtime.presenceTTL,
                logger: logger
            )
        #endif
        }
    }
}
