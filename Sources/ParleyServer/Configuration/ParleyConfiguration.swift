import Cloudinary
import Logging
import ParleyChat
import ParleyPostgres

#if MongoDB
import ParleyMongo
#endif

/// Everything the server needs to know, read once at startup from the environment and `.env`
/// and validated into typed values, one component at a time, each by an `init(reader:)` beside
/// its type (see `.env.example` for every key).
public struct ParleyConfiguration: Sendable {
    public enum Environment: String, Sendable, CaseIterable {
        case development
        case production
    }

    public enum StoreChoice: Sendable {
        case sqlite(path: String)
        case postgres(PostgresConnectionURL, poolSize: Int, operationTimeout: Duration, messageLinger: Duration)
        #if MongoDB
        /// `poolSize` driver threads, each with its own connection; `cluster` says whether
        /// instances share events through change streams.
        case mongodb(MongoConnectionString, poolSize: Int, cluster: MongoClusterMode)
        #endif

        public var supportsClustering: Bool {
            if case .postgres = self { return true }
            return false
        }
    }

    /// Where images go.
    public enum MediaChoice: Sendable {
        /// Files under the data directory, served under `/uploads/`.
        case local
        /// Cloudinary, through its Upload API; `folder` files the assets.
        case cloudinary(CloudinaryConfiguration, folder: String?)
    }

    /// `ENVIRONMENT` (or the Node app's `NODE_ENV=production`).
    public var environment: Environment = .development
    /// `DATA_DIR`: holds the SQLite file, uploaded images and the generated development secret.
    public var dataDirectory: String = "./data"
    public var store: StoreChoice
    public var media: MediaChoice = .local
    public var server = ServerSettings()
    public var auth = AuthSettings()
    public var messages = MessageSettings()
    public var realtime = RealtimeSettings()
    public var logging = LogSettings()

    public init(store: StoreChoice) {
        self.store = store
    }

    /// Reads and validates every component.
    /// - Throws: ``ConfigurationError`` naming the first bad key.
    public init(reader values: ConfigurationValues) throws {
        let environment: Environment
        if let chosen = try values.choice("ENVIRONMENT", as: Environment.self) {
            environment = chosen
        } else {
            // The Node app's convention, so an existing deployment keeps its mode.
            environment = values.string("NODE_ENV")?.lowercased() == "production" ? .production : .development
        }
        let dataDirectory = values.string("DATA_DIR") ?? "./data"
        self.init(store: try StoreChoice(reader: values, dataDirectory: dataDirectory))
        self.environment = environment
        self.dataDirectory = dataDirectory
        self.media = try MediaChoice(reader: values)
        self.server = try ServerSettings(reader: values, environment: environment)
        self.auth = try AuthSettings(reader: values, environment: environment)
        self.messages = try MessageSettings(reader: values)
        self.realtime = try RealtimeSettings(reader: values)
        self.logging = try LogSettings(reader: values)
    }

    /// The directory for uploaded images.
    public var uploadsDirectory: String { dataDirectory + "/uploads" }
}
