import Cloudinary
import ParleyPostgres
import ParleyServer
import PostgresNIO
import Testing

@testable import ParleyTesting

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsToAnEmbeddedDevelopmentServer() throws {
        let configuration = try ParleyConfiguration.from(variables: [:])
        #expect(configuration.server.port == 5001)
        #expect(configuration.environment == .development)
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.auth.jwtSecret == nil)
        guard case .sqlite(let path) = configuration.store else {
            Issue.record("expected SQLite")
            return
        }
        #expect(path == "./data/parley.sqlite")
    }

    /// Past the open-file limit the kernel refuses every connection and accepting spins: the
    /// cap must fit under it.
    @Test func theConnectionCapFitsTheOpenFileLimit() throws {
        var defaults = try ParleyConfiguration.from(variables: [:]).realtime
        #expect(try defaults.fit(openFileLimit: 1_048_576) == nil)
        #expect(defaults.maxConnections == 100_000)
        #expect(try defaults.fit(openFileLimit: 20_000) == 18_976)
        #expect(defaults.maxConnections == 18_976)
        // A small limit (macOS's default 256) keeps a quarter for the rest.
        var small = try ParleyConfiguration.from(variables: [:]).realtime
        #expect(try small.fit(openFileLimit: 256) == 192)
        var smallGiven = try ParleyConfiguration.from(variables: ["SOCKET_MAX_CONNECTIONS": "100"]).realtime
        #expect(try smallGiven.fit(openFileLimit: 256) == nil)
        var given = try ParleyConfiguration.from(variables: ["SOCKET_MAX_CONNECTIONS": "5000"]).realtime
        #expect(try given.fit(openFileLimit: 20_000) == nil)
        #expect(given.maxConnections == 5000)
        var tooMany = try ParleyConfiguration.from(variables: ["SOCKET_MAX_CONNECTIONS": "50000"]).realtime
        #expect(throws: ConfigurationError.self) { try tooMany.fit(openFileLimit: 20_000) }
    }

    @Test func infersPostgresFromDatabaseURL() throws {
        let configuration = try ParleyConfiguration.from(variables: [
            "DATABASE_URL": "postgres://u:p%40ss@db.example:6543/chat?sslmode=disable"
        ])
        guard case .postgres(let url, let pool, let timeout, let linger) = configuration.store else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(url.displayName == "PostgreSQL at db.example:6543/chat")
        #expect(url.configuration.password == "p@ss")
        #expect(pool == 20)
        #expect(timeout == .seconds(10))
        #expect(linger == .milliseconds(5))
    }

    @Test func readsOriginsAndStripsDotEnvQuotes() throws {
        let configuration = try ParleyConfiguration.from(variables: [
            "CORS_ORIGIN": "https://A.example, http://localhost:5173/",
            "JWT_SECRET": "\"0123456789abcdef0123456789abcdef\"",
        ])
        #expect(configuration.server.corsOrigins == ["https://a.example", "http://localhost:5173"])
        #expect(configuration.auth.jwtSecret == "0123456789abcdef0123456789abcdef")
    }

    @Test(
        arguments: [
            (["PORT": "abc"], "PORT"),
            (["PORT": "70000"], "PORT"),
            (["STORE": "oracle"], "STORE"),
            (["STORE": "postgres"], "DATABASE_URL"),
            (["DATABASE_URL": "mysql://x@y/z"], "DATABASE_URL"),
            (["DATABASE_URL": "postgres://x@y/z?sslmode=sometimes"], "DATABASE_URL"),
            (["DATABASE_URL": "postgres://x@y/z", "DATABASE_BATCH_LINGER_US": "-1"], "DATABASE_BATCH_LINGER_US"),
            (["DATABASE_URL": "postgres://x@y/z", "DATABASE_BATCH_LINGER_US": "1ms"], "DATABASE_BATCH_LINGER_US"),
            (["DATABASE_URL": "postgres://x@y/z", "DATABASE_BATCH_LINGER_US": "20001"], "DATABASE_BATCH_LINGER_US"),
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
            (["CLOUDINARY_URL": "https://k:s@c"], "CLOUDINARY_URL"),
            (["CLOUDINARY_URL": "cloudinary://k:s@c", "CLOUDINARY_API_KEY": "k"], "CLOUDINARY_API_KEY"),
            (["CLOUDINARY_CLOUD_NAME": "c", "CLOUDINARY_API_KEY": "k"], "CLOUDINARY_API_SECRET"),
            (["CLOUDINARY_API_SECRET": "s"], "CLOUDINARY_CLOUD_NAME"),
            (["CLOUDINARY_UPLOAD_PREFIX": "http://127.0.0.1:9"], "CLOUDINARY_UPLOAD_PREFIX"),
            (
                ["CLOUDINARY_URL": "cloudinary://k:s@c", "CLOUDINARY_UPLOAD_PREFIX": "api.cloudinary.com"],
                "CLOUDINARY_UPLOAD_PREFIX"
            ),
            (
                ["CLOUDINARY_URL": "cloudinary://k:s@c", "CLOUDINARY_SIGNATURE_ALGORITHM": "md5"],
                "CLOUDINARY_SIGNATURE_ALGORITHM"
            ),
            (["CLOUDINARY_URL": "cloudinary://k:s@c", "CLOUDINARY_FOLDER": "a//b"], "CLOUDINARY_FOLDER"),
            (["CLOUDINARY_URL": "cloudinary://k:s@c", "CLOUDINARY_FOLDER": "a?b"], "CLOUDINARY_FOLDER"),
            (["CLOUDINARY_URL": "cloudinary://k:s@c", "CLOUDINARY_TIMEOUT_MS": "0"], "CLOUDINARY_TIMEOUT_MS"),
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

    @Test func picksCloudinaryFromItsURLOrItsThreeCredentials() throws {
        let fromURL = try ParleyConfiguration.from(variables: [
            "CLOUDINARY_URL": "cloudinary://123:abc@demo?signature_algorithm=sha256",
            "CLOUDINARY_UPLOAD_PREFIX": "https://api-eu.cloudinary.com/",
            "CLOUDINARY_FOLDER": "/chat/images/",
            "CLOUDINARY_TIMEOUT_MS": "5000",
        ])
        guard case .cloudinary(let configuration, let folder) = fromURL.media else {
            Issue.record("expected Cloudinary")
            return
        }
        #expect(configuration.credentials == CloudinaryCredentials(cloudName: "demo", apiKey: "123", apiSecret: "abc"))
        #expect(configuration.uploadPrefix == "https://api-eu.cloudinary.com")
        #expect(configuration.signatureAlgorithm == .sha256)
        #expect(configuration.timeout == .seconds(5))
        #expect(folder == "chat/images")

        let fromParts = try ParleyConfiguration.from(variables: [
            "CLOUDINARY_CLOUD_NAME": "demo", "CLOUDINARY_API_KEY": "123", "CLOUDINARY_API_SECRET": "abc",
            "CLOUDINARY_SIGNATURE_ALGORITHM": "SHA1",
        ])
        guard case .cloudinary(let parts, nil) = fromParts.media else {
            Issue.record("expected Cloudinary without a folder")
            return
        }
        #expect(parts.credentials.cloudName == "demo")
        #expect(parts.uploadPrefix == "https://api.cloudinary.com")
        #expect(parts.signatureAlgorithm == .sha1)

        guard case .local = try ParleyConfiguration.from(variables: [:]).media else {
            Issue.record("expected local disk by default")
            return
        }
    }

    @Test func aBadCloudinaryURLIsReportedWithoutItsSecret() {
        do {
            _ = try ParleyConfiguration.from(variables: [
                "CLOUDINARY_URL": "cloudinary://key:very-secret-value@bad/cloud"
            ])
            Issue.record("accepted a bad cloud name")
        } catch {
            #expect(!"\(error)".contains("very-secret-value"))
        }
    }
}
