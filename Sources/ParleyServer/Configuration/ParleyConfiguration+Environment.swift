import Configuration
import SystemPackage

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
        return try ParleyConfiguration(reader: ConfigurationValues(reader: reader))
    }

    /// Builds and validates a configuration from explicit values (tests, tools).
    public static func from(variables: [String: String]) throws -> ParleyConfiguration {
        try ParleyConfiguration(
            reader: ConfigurationValues(
                reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: variables))))
    }
}
