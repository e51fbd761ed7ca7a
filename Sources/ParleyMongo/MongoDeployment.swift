// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

/// What kind of deployment the URI reaches, which decides whether instances can share events:
/// change streams need a replica set or a sharded cluster.
public enum MongoDeployment: Sendable, Hashable, CustomStringConvertible {
    case standalone
    case replicaSet(name: String)
    case sharded

    /// Reads the server's handshake reply (`hello`, or `isMaster` on servers without it).
    init(handshake reply: BSONDocument) {
        if let name = reply["setName"]?.stringValue {
            self = .replicaSet(name: name)
        } else if reply["msg"]?.stringValue == "isdbgrid" {
            self = .sharded
        } else {
            self = .standalone
        }
    }

    static func detect(_ connection: MongoConnection) throws -> MongoDeployment {
        MongoDeployment(handshake: try handshake(connection))
    }

    /// The server's clock (`localTime`), so that instances with skewed clocks agree on heartbeat
    /// ages; this machine's clock if the server does not say.
    static func serverTime(_ connection: MongoConnection) throws -> Timestamp {
        try handshake(connection)["localTime"]?.timestampValue ?? .now()
    }

    private static func handshake(_ connection: MongoConnection) throws -> BSONDocument {
        do {
            return try connection.runCommand(["hello": 1])
        } catch let error as MongoError where error.code == 59 {
            // CommandNotFound: a server older than 4.4 (or one that only speaks isMaster).
            return try connection.runCommand(["isMaster": 1])
        }
    }

    public var supportsChangeStreams: Bool { self != .standalone }

    public var description: String {
        switch self {
        case .standalone: "a standalone server"
        case .replicaSet(let name): "replica set \(name)"
        case .sharded: "a sharded cluster"
        }
    }
}

/// Whether instances share realtime events and presence through the database.
public enum MongoClusterMode: String, Sendable, Hashable, CaseIterable {
    /// When the deployment supports change streams (a replica set or a sharded cluster).
    case auto
    /// Always (for servers that support change streams without saying they are a replica set).
    case on
    /// Never: one instance per database.
    case off
}
#endif
