import Foundation
import Logging
import ParleyChat
import ParleyDomain

/// Writes each log event as one JSON object per line on standard error, for log collectors
/// (`LOG_FORMAT=json`, the default when standard error is not a terminal).
///
/// `{"time": "…Z", "level": "info", "label": "parley", "message": "…", "source": "ParleyServer",
/// …metadata}`: metadata keys are top-level fields (`hb.request.id`, `error`, …); a metadata key
/// that collides with one of the fixed fields is prefixed with `metadata.`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: Any] = [
            "time": Timestamp.now().iso8601,
            "level": event.level.rawValue,
            "label": label,
            "message": event.message.description,
            "source": event.source,
        ]
        if let error = event.error { fields["error"] = "\(error)" }
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        for (key, value) in all {
            fields[fields[key] == nil ? key : "metadata.\(key)"] = Self.json(value)
        }
        guard
            var data = try? JSONSerialization.data(
                withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        data.append(0x0A)
        data.withUnsafeBytes { bytes in
            _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count)
        }
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }
}

/// How log lines look.
public enum LogFormat: String, Sendable, CaseIterable {
    /// JSON when standard error is not a terminal, text otherwise.
    case auto
    case json
    case text

    /// Whether this format writes JSON here and now.
    public var writesJSON: Bool {
        switch self {
        case .json: true
        case .text: false
        case .auto: isatty(STDERR_FILENO) != 1
        }
    }
}
