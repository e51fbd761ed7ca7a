import ParleyDomain
import SocketIO
import Testing

@testable import ParleyServer

@Suite("Realtime: the online-users list")
struct OnlineUsersListTests {
    @Test(arguments: [0, 1, 3, 500])
    func isTheSortedIDsOfEveryoneOnlineAndTheConnectingUser(count: Int) throws {
        let online = Set((0..<count).map { _ in ObjectID() })
        let user = ObjectID()
        let json = OnlineUsersList().json(of: online, version: 0, including: user)
        let expected = SocketValue.array((online.union([user])).sorted().map { .string($0.hexString) })
        #expect(try SocketValue(json: json.text) == expected)
    }

    @Test func countsAUserAlreadyOnlineOnce() throws {
        let user = ObjectID()
        let json = OnlineUsersList().json(of: [user, ObjectID()], version: 0, including: user)
        guard case .array(let ids) = try SocketValue(json: json.text) else {
            Issue.record("not an array: \(json.text)")
            return
        }
        #expect(ids.count == 2)
        #expect(ids.contains(.string(user.hexString)))
    }

    /// The list written last is handed out again only for the same presence version; a user the
    /// set lacks gets a list of their own.
    @Test func isWrittenAgainWhenPresenceChanges() throws {
        let list = OnlineUsersList()
        let (ann, bob, cat) = (ObjectID(), ObjectID(), ObjectID())
        var online: Set = [ann, bob]
        let first = list.json(of: online, version: 1, including: ann)
        #expect(first == OnlineUsersList.json(of: [ann, bob]))
        #expect(list.json(of: online, version: 1, including: bob) == first)
        #expect(list.json(of: online, version: 1, including: cat) == OnlineUsersList.json(of: [ann, bob, cat]))
        online.insert(cat)
        #expect(list.json(of: online, version: 2, including: ann) == OnlineUsersList.json(of: [ann, bob, cat]))
        online.remove(bob)
        let last = list.json(of: online, version: 3, including: cat)
        #expect(try SocketValue(json: last.text) == .array([ann, cat].sorted().map { .string($0.hexString) }))
    }
}
