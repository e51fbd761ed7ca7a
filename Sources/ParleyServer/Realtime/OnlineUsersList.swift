import ParleyDomain
import SocketIO

/// The argument of `online-users`: the ids of every user online, sorted, as one JSON array.
///
/// The list is written straight into one buffer. Built as an array of ``SocketValue`` strings,
/// each connection made two allocations per user online, and a reconnection storm of N users
/// N² of them.
enum OnlineUsersList {
    /// The list of `online`, with `user` in it whether or not presence has counted them yet.
    static func json(of online: Set<ObjectID>, including user: ObjectID) -> EncodedJSON {
        var ids = Array(online)
        if !online.contains(user) { ids.append(user) }
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
