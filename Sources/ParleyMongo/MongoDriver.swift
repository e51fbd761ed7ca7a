// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import CMongoC
import Logging

/// The driver's process-wide setup: initialised once, its log routed to swift-log.
enum MongoDriver {
    private static let initialized: Void = {
        mongoc_init()
        // The default handler prints everything, down to connection-monitor debug lines, on
        // stderr; keep warnings and errors, in the server's log format.
        mongoc_log_set_handler(
            { level, domain, message, _ in
                let logLevel: Logger.Level
                switch level {
                case MONGOC_LOG_LEVEL_ERROR, MONGOC_LOG_LEVEL_CRITICAL: logLevel = .error
                case MONGOC_LOG_LEVEL_WARNING: logLevel = .warning
                default: return
                }
                MongoDriver.logger.log(
                    level: logLevel,
                    "\(message.map { String(cString: $0) } ?? "")",
                    metadata: ["domain": "\(domain.map { String(cString: $0) } ?? "")"]
                )
            },
            nil
        )
    }()

    static let logger = Logger(label: "mongoc")

    static func initialize() { _ = initialized }
}
#endif
