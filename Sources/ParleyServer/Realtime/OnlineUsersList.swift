import ParleyDomain
import SocketIO
import Synchronization

/// The argument of `online-users`: the ids of every user online, sorted, as one JSON array.
///
/// The list is written straight into one buffer. Built as an array of ``SocketValue`` strings,
/// each connection made two allocations per user online, and a reconnection storm of N users
/// N² of them.
///
/// The last list written is kept with the presence version it was written from
/// (``PresenceService/onlineUsersVersioned()``) and handed out again while the version stays. In
/// a 2,000-client reconnection storm, sorting and writing the list for every socket was 6 % of
/// the server's CPU (`perf`: the sort of the ids 4 %, their hex 2 %).
final class OnlineUsersList: Sendable {
    private struct Written {
        let version: UInt64
        let json: EncodedJSON
    }

    private let last = Mutex<Written?>(nil)

    /// The list of `online` (at presence version `version`), with `user` in it whether or not
    /// presence has counted them yet.
    func json(of online: Set<ObjectID>, version: UInt64, including user: ObjectID) -> EncodedJSON {
        // Presence counts a connecting device before its socket asks for the list: `user` is
        // nearly always in it already.
        guard online.contains(user) else { return Self.json(of: online.union([user])) }
        if let written = last.withLock({ $0 }), written.version == version { return written.json }
        let json = Self.json(of: online)
        last.withLock { $0 = Written(version: version, json: json) }
        return json
    }

    /// `online`'s ids, sorted, as a JSON array.
    static func json(of online: Set<ObjectID>) -> EncodedJSON {
        var ids = Array(online)
        ids.sort()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(2 + ids.count * 27)
        bytes.append(UInt8(ascii: "["))
        for (index, id) in ids.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            id.appendHex(to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "]"))
        return EncodedJSON(unchecked: String(decoding: bytes, as: UTF8.self))
    }
}
