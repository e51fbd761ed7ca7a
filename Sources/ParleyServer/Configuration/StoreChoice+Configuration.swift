import ParleyPostgres

#if MongoDB
import ParleyMongo
#endif

extension ParleyConfiguration.StoreChoice {
    /// `STORE` (or inferred from which URL is set) and its settings.
    init(reader values: ConfigurationValues, dataDirectory: String) throws {
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
            self = .sqlite(path: values.string("SQLITE_PATH") ?? dataDirectory + "/parley.sqlite")
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
            self = .postgres(
                url,
                poolSize: try values.integer("DATABASE_POOL_SIZE", in: 1...1000) ?? 20,
                operationTimeout: .milliseconds(try values.integer("DATABASE_TIMEOUT_MS", in: 100...600_000) ?? 10_000),
                messageLinger: .microseconds(try values.integer("DATABASE_BATCH_LINGER_US", in: 0...20_000) ?? 5_000)
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
            let clusterMode = try values.choice("MONGODB_CLUSTER", as: MongoClusterMode.self) ?? .auto
            self = .mongodb(
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
}
