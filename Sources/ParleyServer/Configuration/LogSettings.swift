import Logging

/// How the server logs.
public struct LogSettings: Sendable {
    /// `LOG_LEVEL`.
    public var level: Logger.Level = .info
    /// `LOG_FORMAT`: JSON lines for collectors, text for people.
    public var format: LogFormat = .auto

    public init() {}

    init(reader values: ConfigurationValues) throws {
        level = try values.choice("LOG_LEVEL", as: Logger.Level.self) ?? level
        format = try values.choice("LOG_FORMAT", as: LogFormat.self) ?? format
    }
}
