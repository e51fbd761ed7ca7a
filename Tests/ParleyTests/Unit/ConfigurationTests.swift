import ParleyPostgres
import ParleyServer
import PostgresNIO
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsToAnEmbeddedDevelopmentServer() throws {
        let configuration = try ParleyConfiguration.from(variables: [:])
        #expect(configuration.port == 5001)
        #expect(configuration.environment == .development)
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.jwtSecret == nil)
        guard case .sqlite(let path) = configuration.store else {
            Issue.record("expected SQLite")
            return
        }
        #expect(path == "./data/parley.sqlite")
    }

    @Test func infersPostgresFromDatabaseURL() throws {
        let configuration = try ParleyConfiguration.from(variables: [
            "DATABASE_URL": "postgres://u:p%40ss@db.example:6543/chat?sslmode=disable"
        ])
        guard case .postgres(let url, let pool, let timeout) = configuration.store else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(url.displayName == "PostgreSQL at db.example:6543/chat")
        #expect(url.configuration.password == "p@ss")
        #expect(pool == 20)
        #expect(timeout == .seconds(10))
    }

    @Test func readsOriginsAndStripsDotEnvQuotes() throws {
        let configuration = try ParleyConfiguration.from(variables: [
            "CORS_ORIGIN": "https://A.example, http://localhost:5173/",
            "JWT_SECRET": "\"0123456789abcdef0123456789abcdef\"",
        ])
        #expect(configuration.corsOrigins == ["https://a.example", "http://localhost:5173"])
        #expect(configuration.jwtSecret == "0123456789abcdef0123456789abcdef")
    }

    @Test(
        arguments: [
            (["PORT": "abc"], "PORT"),
            (["PORT": "70000"], "PORT"),
            (["STORE": "oracle"], "STORE"),
            (["STORE": "postgres"], "DATABASE_URL"),
            (["DATABASE_URL": "mysql://x@y/z"], "DATABASE_URL"),
            (["DATABASE_URL": "postgres://x@y/z?sslmode=sometimes"], "DATABASE_URL"),
            (["DATABASE_URL": "postgres://x@y/z", "MONGODB_URI": "mongodb://y/z"], "STORE"),
            (["ENVIRONMENT": "staging"], "ENVIRONMENT"),
            (["ENVIRONMENT": "production"], "JWT_SECRET"),
            (["NODE_ENV": "production"], "JWT_SECRET"),
            (["JWT_SECRET": "short"], "JWT_SECRET"),
            (["CORS_ORIGIN": "example.com"], "CORS_ORIGIN"),
            (["CORS_ORIGIN": "https://example.com/app"], "CORS_ORIGIN"),
            (["LOG_LEVEL": "loud"], "LOG_LEVEL"),
            (["TRUST_PROXY": "maybe"], "TRUST_PROXY"),
            (["BCRYPT_COST": "3"], "BCRYPT_COST"),
        ] as [([String: String], String)])
    func namesTheKeyOfABadValue(variables: [String: String], key: String) {
        do {
            _ = try ParleyConfiguration.from(variables: variables)
            Issue.record("accepted \(variables)")
        } catch let error as ConfigurationError {
            #expect(error.key == key, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
