import Cloudinary
import Logging
import ParleyChat
import ParleyDomain
import ParleyPostgres
import SocketIO

#if MongoDB
import ParleyMongo
#endif

/// Everything the server needs to know, read once at startup from the environment and `.env`
/// and validated into typed values (see `.env.example` for every key).
public struct ParleyConfiguration: Sendable {
    public enum Environment: String, Sendable {
        case development
        case production
    }

    public enum StoreChoice: Sendable {
        case sqlite(path: String)
        case postgres(PostgresConnectionURL, poolSize: Int, operationTimeout: Duration)
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

    public var environment: Environment = .development
    public var host: String = "0.0.0.0"
    public var port: Int = 5001
    public var store: StoreChoice
    /// Holds the SQLite file, uploaded images and the generated development JWT secret.
    public var dataDirectory: String = "./data"
    /// Set when the secret comes from configuration; `nil` in development means "generate one
    /// and remember it in the data directory".
    public var jwtSecret: String?
    /// Origins allowed to make credentialed cross-origin requests (and open sockets).
    public var corsOrigins: [String] = []
    /// Origin prefixed to upload URLs; empty for same-origin relative URLs.
    public var publicURL: String = ""
    public var logLevel: Logger.Level = .info
    /// `SHUTDOWN_TIMEOUT_SECONDS`: how long a graceful shutdown may take (requests in flight
    /// finishing, sockets told to reconnect elsewhere) before the rest is cancelled.
    public var shutdownTimeout: Duration = .seconds(30)
    /// `METRICS_TOKEN`: the bearer token `GET /metrics` requires; no token, no metrics route.
    public var metricsToken: String?
    /// `LOG_FORMAT`: JSON lines for collectors, text for people.
    public var logFormat: LogFormat = .auto
    /// Whether to take the client address from `X-Forwarded-For` (behind a reverse proxy).
    public var trustProxy: Bool = false
    /// Sign-up and log-in attempts per minute per client address.
    public var authRateLimitPerAddress: Int = 30
    /// Sign-up and log-in attempts per minute per client address and email pair.
    public var authRateLimitPerEmail: Int = 10
    /// Sign-up and log-in attempts per hour per email, from all addresses together.
    public var authRateLimitPerEmailGlobally: Int = 1000
    public var bcryptCost: UInt8 = 10
    /// Largest accepted image, decoded.
    public var maximumImageBytes: Int = ImageValidator.defaultMaximumBytes
    public var media: MediaChoice = .local
    /// How long after sending a sender may edit a message (`MESSAGE_EDIT_WINDOW_SECONDS`; 0: never).
    public var messageEditWindow: Duration = .seconds(15 * 60)
    public var realtime = RealtimeSettings()
    /// How long a connection may take to send a request's head (`HTTP_HEADER_TIMEOUT_MS`) and
    /// body (`HTTP_BODY_TIMEOUT_MS`, between two reads) and may stay idle between requests
    /// (`HTTP_IDLE_TIMEOUT_MS`). WebSockets and long-polls are not affected.
    public var httpLimits = HTTPConnectionGuardStateMachine.Limits()

    public init(store: StoreChoice) {
        self.store = store
    }

    /// Largest request body: the largest image as a base64 data URI (4/3 of its size) plus 1 MB
    /// for the other fields.
    public var requestBodyLimit: Int { maximumImageBytes / 3 * 4 + 4 + 1024 * 1024 }

    /// The directory for uploaded images.
    public var uploadsDirectory: String { dataDirectory + "/uploads" }
}
