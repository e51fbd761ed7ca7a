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
        let json = OnlineUsersList.json(of: online, including: user)
        let expected = SocketValue.array((online.union([user])).sorted().map { .string($0.hexString) })
        #expect(try SocketValue(json: json.text) == expected)
    }

    @Test func countsAUserAlreadyOnlineOnce() throws {
        let user = ObjectID()
        let json = OnlineUsersList.json(of: [user, ObjectID()], including: user)
        guard case .array(let ids) = try SocketValue(json: json.text) else {
            Issue.record("not an array: \(json.text)")
            return
        }
        #expect(ids.count == 2)
        #expect(ids.contains(.string(user.hexString)))
    }
}
