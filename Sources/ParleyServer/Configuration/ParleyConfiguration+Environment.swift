import Cloudinary
import Configuration
import Logging
import NIOCore
import ParleyChat
import ParleyDomain
import ParleyPostgres
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

extension ParleyConfiguration {
    /// Reads the process environment, then `.env` in the working directory (the environment
    /// wins), and validates every value.
    /// - Throws: ``ConfigurationError`` naming the first bad key.
    public static func fromEnvironment(dotEnvPath: String = ".env") async throws -> ParleyConfiguration {
        // swift-configuration reads lines split at LF only: with CRLF endings the first key would
        // take the whole rest of the file as its value and every other key would be lost.
        if let contents = FileManager.default.contents(atPath: dotEnvPath), contents.contains(UInt8(ascii: "\r")) {
            throw ConfigurationError(
                key: dotEnvPath,
                "has Windows (CRLF) line endings, which would be misread; convert it (dos2unix) and start again"
            )
        }
        let reader = ConfigReader(providers: [
            EnvironmentVariablesProvider(),
            try await EnvironmentVariablesProvider(environmentFilePath: FilePath(dotEnvPath), allowMissing: true),
        ])
        return try ParleyConfiguration(reader: reader)
    }

    /// Builds and validates a configuration from explicit values (tests, tools).
    public static func from(variables: [String: String]) throws -> ParleyConfiguration {
        try ParleyConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: variables)))
    }

    init(reader: ConfigReader) throws {
        let values = ConfigurationValues(reader: reader)

        let environment: Environment
        if let raw = values.string("ENVIRONMENT") {
            guard let parsed = Environment(rawValue: raw.lowercased()) else {
                throw ConfigurationError(key: "ENVIRONMENT", "must be development or production, got '\(raw)'")
            }
            environment = parsed
        } else {
            // The Node app's convention, so an existing deployment keeps its mode.
            environment = values.string("NODE_ENV")?.lowercased() == "production" ? .production : .development
        }

        let dataDirectory = values.string("DATA_DIR") ?? "./data"
        self.init(store: try Self.store(values, dataDirectory: dataDirectory))
        self.environment = environment
        self.dataDirectory = dataDirectory
        self.host = values.string("HOST") ?? "0.0.0.0"
        self.port = try values.integer("PORT", in: 1...65535) ?? 5001

        if let secret = values.string("JWT_SECRET", isSecret: true) {
            guard secret.utf8.count >= TokenService.minimumSecretBytes else {
                throw ConfigurationError(
                    key: "JWT_SECRET",
                    "must be at least \(TokenService.minimumSecretBytes) bytes (HS256 key strength); "
                        + "generate one with: openssl rand -base64 48"
                )
            }
            self.jwtSecret = secret
        } else if environment == .production {
            throw ConfigurationError(key: "JWT_SECRET", "is required in production")
        }

        if let origins = values.string("CORS_ORIGIN") {
            self.corsOrigins = try origins.split(separator: ",").map { try Self.origin(String($0), key: "CORS_ORIGIN") }
        } else if environment == .development {
            // The Node app's frontend dev server.
            self.corsOrigins = ["http://localhost:5173"]
        }
        if let publicURL = values.string("PUBLIC_URL") {
            self.publicURL = try Self.origin(publicURL, key: "PUBLIC_URL")
        }
        if let level = values.string("LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError(
                    key: "LOG_LEVEL",
                    "must be one of trace, debug, info, notice, warning, error, critical, got '\(level)'"
                )
            }
            self.logLevel = parsed
        }
        if let seconds = try values.integer("SHUTDOWN_TIMEOUT_SECONDS", in: 1...3600) {
            self.shutdownTimeout = .seconds(seconds)
        }
        if let token = values.string("METRICS_TOKEN", isSecret: true) {
            guard token.utf8.count >= 16 else {
                throw ConfigurationError(key: "METRICS_TOKEN", "must be at least 16 characters")
            }
            self.metricsToken = token
        }
        if let format = values.string("LOG_FORMAT") {
            guard let parsed = LogFormat(rawValue: format.lowercased()) else {
                throw ConfigurationError(key: "LOG_FORMAT", "must be auto, json or text, got '\(format)'")
            }
            self.logFormat = parsed
        }
        self.trustProxy = try values.boolean("TRUST_PROXY") ?? false
        self.authRateLimitPerAddress = try values.integer("AUTH_RATE_LIMIT", in: 1...1_000_000) ?? 30
        self.authRateLimitPerEmail = try values.integer("AUTH_EMAIL_RATE_LIMIT", in: 1...1_000_000) ?? 10
        self.authRateLimitPerEmailGlobally =
            try values.integer("AUTH_EMAIL_GLOBAL_RATE_LIMIT", in: 1...100_000_000) ?? 1000
        self.bcryptCost = UInt8(try values.integer("BCRYPT_COST", in: 4...PasswordHasher.maximumStoredCost) ?? 10)
        if let megabytes = try values.integer("MAX_IMAGE_MB", in: 1...100) {
            self.maximumImageBytes = megabytes * 1024 * 1024
        }
        self.media = try Self.media(values)
        if let window = try values.integer("MESSAGE_EDIT_WINDOW_SECONDS", in: 0...31_536_000) {
            self.messageEditWindow = .seconds(window)
        }
        if let grace = try values.integer("PRESENCE_GRACE_MS", in: 0...600_000) {
            realtime.presenceGrace = .milliseconds(grace)
        }
        if let heartbeat = try values.integer("PRESENCE_HEARTBEAT_MS", in: 100...600_000) {
            realtime.heartbeat = .milliseconds(heartbeat)
        }
        if let ttl = try values.integer("PRESENCE_TTL_MS", in: 500...3_600_000) {
            realtime.presenceTTL = .milliseconds(ttl)
        }
        guard realtime.presenceTTL > realtime.heartbeat else {
            throw ConfigurationError(key: "PRESENCE_TTL_MS", "must be longer than PRESENCE_HEARTBEAT_MS")
        }
        realtime.eventRate = try values.integer("SOCKET_EVENT_RATE", in: 1...100_000) ?? realtime.eventRate
        realtime.eventBurst = try values.integer("SOCKET_EVENT_BURST", in: 1...100_000) ?? realtime.eventBurst
        if let interval = try values.integer("SOCKETIO_PING_INTERVAL_MS", in: 100...3_600_000) {
            realtime.pingInterval = .milliseconds(interval)
        }
        if let timeout = try values.integer("SOCKETIO_PING_TIMEOUT_MS", in: 100...3_600_000) {
            realtime.pingTimeout = .milliseconds(timeout)
        }
        if let timeout = try values.integer("HTTP_HEADER_TIMEOUT_MS", in: 100...3_600_000) {
            httpLimits.requestHead = .milliseconds(Int64(timeout))
        }
        if let timeout = try values.integer("HTTP_BODY_TIMEOUT_MS", in: 100...3_600_000) {
            httpLimits.requestBody = .milliseconds(Int64(timeout))
        }
        if let timeout = try values.integer("HTTP_IDLE_TIMEOUT_MS", in: 100...3_600_000) {
            httpLimits.idle = .milliseconds(Int64(timeout))
        }
    }

    private static func store(_ values: ConfigurationValues, dataDirectory: String) throws -> StoreChoice {
        let databaseURL = values.string("DATABASE_URL", isSecret: true)
        let mongoURI = values.string("MONGODB_URI", isSecret: true)
        let choice: String
        if let raw = values.string("STORE") {
            choice = raw.lowercased()
        } else if databaseURL != nil, mongoURI != nil {
            throw ConfigurationError(
                key: "STORE", "both DATABASE_URL and MONGODB_URI are set; set STORE to postgres or mongodb")
        } else if databaseURL != nil {
            choice = "postgres"
        } else if mongoURI != nil {
            choice = "mongodb"
        } else {
            choice = "sqlite"
        }
        switch choice {
        case "sqlite":
            return .sqlite(path: values.string("SQLITE_PATH") ?? dataDirectory + "/parley.sqlite")
        case "postgres", "postgresql":
            guard let databaseURL else {
                throw ConfigurationError(key: "DATABASE_URL", "is required when STORE=postgres")
            }
            let url: PostgresConnectionURL
            do {
                url = try PostgresConnectionURL(databaseURL)
            } catch {
                throw ConfigurationError(key: "DATABASE_URL", "cannot be parsed: \(error)")
            }
            return .postgres(
                url,
                poolSize: try values.integer("DATABASE_POOL_SIZE", in: 1...1000) ?? 20,
                operationTimeout: .milliseconds(try values.integer("DATABASE_TIMEOUT_MS", in: 100...600_000) ?? 10_000)
            )
        case "mongodb", "mongo":
            #if MongoDB
            guard let mongoURI else { throw ConfigurationError(key: "MONGODB_URI", "is required when STORE=mongodb") }
            let connectionString: MongoConnectionString
            do {
                connectionString = try MongoConnectionString(mongoURI)
            } catch {
                throw ConfigurationError(key: "MONGODB_URI", "cannot be parsed: \(error.message)")
            }
            let cluster = values.string("MONGODB_CLUSTER")?.lowercased() ?? "auto"
            guard let clusterMode = MongoClusterMode(rawValue: cluster) else {
                throw ConfigurationError(key: "MONGODB_CLUSTER", "must be auto, on or off, got '\(cluster)'")
            }
            return .mongodb(
                connectionString,
                poolSize: try values.integer("MONGODB_POOL_SIZE", in: 1...256) ?? 10,
                cluster: clusterMode
            )
            #else
            throw ConfigurationError(
                key: "STORE",
                "this build has no MongoDB support; build with `swift build --traits MongoDB`"
            )
            #endif
        default:
            throw ConfigurationError(key: "STORE", "must be postgres, mongodb or sqlite, got '\(choice)'")
        }
    }

    /// Cloudinary when `CLOUDINARY_URL` or the three `CLOUDINARY_CLOUD_NAME`, `CLOUDINARY_API_KEY`,
    /// `CLOUDINARY_API_SECRET` are set; local disk otherwise.
    private static func media(_ values: ConfigurationValues) throws -> MediaChoice {
        let url = values.string("CLOUDINARY_URL", isSecret: true)
        let parts = [
            ("CLOUDINARY_CLOUD_NAME", values.string("CLOUDINARY_CLOUD_NAME")),
            ("CLOUDINARY_API_KEY", values.string("CLOUDINARY_API_KEY")),
            ("CLOUDINARY_API_SECRET", values.string("CLOUDINARY_API_SECRET", isSecret: true)),
        ]
        var configuration: CloudinaryConfiguration
        if let url {
            if let set = parts.first(where: { $0.1 != nil }) {
                throw ConfigurationError(
                    key: set.0, "is set as well as CLOUDINARY_URL; set one or the other, not both")
            }
            do {
                configuration = try CloudinaryConfiguration(url: url)
            } catch let error as CloudinaryConfigurationError {
                throw ConfigurationError(key: "CLOUDINARY_URL", error.message)
            }
        } else if parts.contains(where: { $0.1 != nil }) {
            if let missing = parts.first(where: { $0.1 == nil }) {
                throw ConfigurationError(
                    key: missing.0,
                    "is required with the other CLOUDINARY_ credentials (or set CLOUDINARY_URL instead)"
                )
            }
            let credentials = CloudinaryCredentials(
                cloudName: parts[0].1 ?? "", apiKey: parts[1].1 ?? "", apiSecret: parts[2].1 ?? "")
            do {
                try CloudinaryConfiguration.validate(credentials)
            } catch let error as CloudinaryConfigurationError {
                throw ConfigurationError(key: "CLOUDINARY_CLOUD_NAME", error.message)
            }
            configuration = CloudinaryConfiguration(credentials: credentials)
        } else {
            let cloudinaryOnly = [
                "CLOUDINARY_UPLOAD_PREFIX", "CLOUDINARY_SIGNATURE_ALGORITHM", "CLOUDINARY_FOLDER",
                "CLOUDINARY_TIMEOUT_MS", "CLOUDINARY_MAX_ATTEMPTS",
            ]
            if let stray = cloudinaryOnly.first(where: { values.string($0) != nil }) {
                throw ConfigurationError(
                    key: stray,
                    "is set but Cloudinary is not: set CLOUDINARY_URL (or the three CLOUDINARY_ credentials)")
            }
            return .local
        }

        if let prefix = values.string("CLOUDINARY_UPLOAD_PREFIX") {
            do {
                configuration.uploadPrefix = try CloudinaryConfiguration.validatedUploadPrefix(prefix)
            } catch let error as CloudinaryConfigurationError {
                throw ConfigurationError(key: "CLOUDINARY_UPLOAD_PREFIX", error.message)
            }
        }
        if let raw = values.string("CLOUDINARY_SIGNATURE_ALGORITHM") {
            guard let algorithm = CloudinarySignatureAlgorithm(rawValue: raw.lowercased()) else {
                throw ConfigurationError(key: "CLOUDINARY_SIGNATURE_ALGORITHM", "must be sha1 or sha256, got '\(raw)'")
            }
            configuration.signatureAlgorithm = algorithm
        }
        if let timeout = try values.integer("CLOUDINARY_TIMEOUT_MS", in: 100...600_000) {
            configuration.timeout = .milliseconds(timeout)
        }
        if let attempts = try values.integer("CLOUDINARY_MAX_ATTEMPTS", in: 1...10) {
            configuration.maximumAttempts = attempts
        }
        return .cloudinary(configuration, folder: try values.string("CLOUDINARY_FOLDER").map(cloudinaryFolder))
    }

    /// A folder path Cloudinary accepts: segments of printable characters other than
    /// `? & # \ % < > +`, separated by single slashes.
    static func cloudinaryFolder(_ raw: String) throws -> String {
        let segments = raw.split(separator: "/", omittingEmptySubsequences: false)
        var trimmed = segments[...]
        while trimmed.first == "" { trimmed.removeFirst() }
        while trimmed.last == "" { trimmed.removeLast() }
        let forbidden = Set("?&#\\%<>+")
        guard !trimmed.isEmpty, trimmed.allSatisfy({ !$0.isEmpty }), raw.utf8.count <= 200,
            raw.allSatisfy({ !forbidden.contains($0) && !$0.isNewline && $0.asciiValue.map { $0 >= 0x20 } ?? true })
        else {
            throw ConfigurationError(
                key: "CLOUDINARY_FOLDER",
                "'\(raw)' is not a folder path like parley/images (no ? & # \\ % < > +, no empty segments)"
            )
        }
        return trimmed.joined(separator: "/")
    }

    /// `scheme://host[:port]` with nothing after it, as browsers send in `Origin`.
    static func origin(_ raw: String, key: String) throws -> String {
        var value = raw.trimmingCharacters(in: " \t")
        while value.hasSuffix("/") { value.removeLast() }
        let parts = value.split(separator: "://", maxSplits: 1)
        guard parts.count == 2, ["http", "https"].contains(parts[0].lowercased()), !parts[1].isEmpty,
            !parts[1].contains("/"), !parts[1].contains("?"), !parts[1].contains("#"), !parts[1].contains(" ")
        else {
            throw ConfigurationError(key: key, "'\(raw)' is not an origin like https://chat.example.com")
        }
        return "\(parts[0].lowercased())://\(parts[1].lowercased())"
    }
}

/// Typed access to raw configuration strings, reporting bad values by key.
struct ConfigurationValues {
    let reader: ConfigReader

    /// The trimmed value, with one pair of surrounding quotes removed (`.env` files keep them);
    /// an empty value counts as unset.
    func string(_ key: String, isSecret: Bool = false) -> String? {
        guard var value = reader.string(forKey: ConfigKey(key), isSecret: isSecret) else { return nil }
        value = value.trimmingCharacters(in: " \t\r\n")
        if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
            value = String(value.dropFirst().dropLast())
        }
        return value.isEmpty ? nil : value
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = string(key) else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw ConfigurationError(
                key: key, "must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
        }
        return value
    }

    func boolean(_ key: String) throws -> Bool? {
        guard let raw = string(key) else { return nil }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(key: key, "must be true or false, got '\(raw)'")
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set.unicodeScalars)
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !characters.contains($0) }),
            let last = scalars.lastIndex(where: { !characters.contains($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}
