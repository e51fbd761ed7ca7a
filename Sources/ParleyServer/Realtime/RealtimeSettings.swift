/// Realtime settings, from configuration.
public struct RealtimeSettings: Sendable {
    /// How long a user stays online after their last device disconnects (`PRESENCE_GRACE_MS`).
    public var presenceGrace: Duration = .seconds(3)
    /// How often an instance heartbeats (`PRESENCE_HEARTBEAT_MS`).
    public var heartbeat: Duration = .seconds(5)
    /// How long an instance may miss heartbeats before its users go offline (`PRESENCE_TTL_MS`).
    public var presenceTTL: Duration = .seconds(15)
    /// Events a socket may send per second, on average (`SOCKET_EVENT_RATE`).
    public var eventRate: Int = 20
    /// Events a socket may send in a burst (`SOCKET_EVENT_BURST`).
    public var eventBurst: Int = 40
    /// Engine.IO heartbeat (`SOCKETIO_PING_INTERVAL_MS`, `SOCKETIO_PING_TIMEOUT_MS`).
    public var pingInterval: Duration = .seconds(25)
    public var pingTimeout: Duration = .seconds(20)
    /// Most Socket.IO connections (Engine.IO sessions) open at once; handshakes past it get 503
    /// (`SOCKET_MAX_CONNECTIONS`). At some 10 KiB each, the default bounds them near 1 GiB.
    public var maxConnections: Int = 100_000
    /// Whether `SOCKET_MAX_CONNECTIONS` was given (see ``fit(openFileLimit:)``).
    public var maxConnectionsGiven = false
    /// How long a socket whose connection was lost can come back with what it missed
    /// (`SOCKET_RECOVERY_SECONDS`; `nil`, from 0, turns recovery off).
    public var recoveryWindow: Duration? = .seconds(120)

    public init() {}
}

extension RealtimeSettings {
    /// `PRESENCE_*`, `SOCKET_EVENT_*`, `SOCKET_MAX_CONNECTIONS`, `SOCKET_RECOVERY_SECONDS`, `SOCKETIO_PING_*`.
    init(reader values: ConfigurationValues) throws {
        self.init()
        presenceGrace = try values.milliseconds("PRESENCE_GRACE_MS", in: 0...600_000) ?? presenceGrace
        heartbeat = try values.milliseconds("PRESENCE_HEARTBEAT_MS", in: 100...600_000) ?? heartbeat
        presenceTTL = try values.milliseconds("PRESENCE_TTL_MS", in: 500...3_600_000) ?? presenceTTL
        guard presenceTTL > heartbeat else {
            throw ConfigurationError(key: "PRESENCE_TTL_MS", "must be longer than PRESENCE_HEARTBEAT_MS")
        }
        eventRate = try values.integer("SOCKET_EVENT_RATE", in: 1...100_000) ?? eventRate
        eventBurst = try values.integer("SOCKET_EVENT_BURST", in: 1...100_000) ?? eventBurst
        pingInterval = try values.milliseconds("SOCKETIO_PING_INTERVAL_MS", in: 100...3_600_000) ?? pingInterval
        pingTimeout = try values.milliseconds("SOCKETIO_PING_TIMEOUT_MS", in: 100...3_600_000) ?? pingTimeout
        if let given = try values.integer("SOCKET_MAX_CONNECTIONS", in: 1...10_000_000) {
            maxConnections = given
            maxConnectionsGiven = true
        }
        if let seconds = try values.integer("SOCKET_RECOVERY_SECONDS", in: 0...86_400) {
            recoveryWindow = seconds == 0 ? nil : .seconds(seconds)
        }
    }
}

extension RealtimeSettings {
    /// Open files kept for all but Socket.IO connections (HTTP requests, the database's
    /// connections, uploads being written): 1,024, or a quarter of a smaller limit.
    public static func reservedFileDescriptors(openFileLimit: Int) -> Int {
        min(1024, openFileLimit / 4)
    }

    /// Fits ``maxConnections`` to the files the process may open (`ulimit -n`, raised to its hard
    /// limit at start-up). Past that limit the kernel refuses every new connection, and the
    /// server spent 60 % of a core retrying to accept them (20,000 idle connections, the default
    /// cap of 100,000): better that handshakes past the cap get their 503. The default cap is
    /// lowered to fit, a cap that was given and cannot be met is a start-up error. (Linux
    /// allows `ulimit -n` up to its hard limit; macOS to `OPEN_MAX`, see ``FileDescriptorLimit``.)
    /// - Returns: the lowered cap, if it was lowered.
    public mutating func fit(openFileLimit: UInt64) throws -> Int? {
        let limit = Int(clamping: openFileLimit)
        let reserved = Self.reservedFileDescriptors(openFileLimit: limit)
        let available = limit - reserved
        guard maxConnections > available else { return nil }
        guard !maxConnectionsGiven else {
            throw ConfigurationError(
                key: "SOCKET_MAX_CONNECTIONS",
                "\(maxConnections) connections need as many open files and \(reserved) more; "
                    + "this process may open \(openFileLimit) (raise `ulimit -n`, or lower SOCKET_MAX_CONNECTIONS)")
        }
        maxConnections = max(1, available)
        return maxConnections
    }
}
