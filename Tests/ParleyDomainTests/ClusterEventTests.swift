import Foundation
import JSONText
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("Cluster events and the JSON form of messages")
struct ClusterEventTests {
    static let alice = ObjectID("6b0610d42418feb384a4dcf4")!
    static let bob = ObjectID("6b0610d42418feb384a4dcf5")!

    static let messages: [Message] = [
        Message(
            id: ObjectID("6b0610d42418feb384a4dcf6")!, senderID: alice, receiverID: bob, text: "hi \"there\"\n/\\ 🙂",
            image: nil, createdAt: Timestamp(millisecondsSince1970: 1_700_000_000_123),
            updatedAt: Timestamp(millisecondsSince1970: 1_700_000_000_123)),
        Message(
            id: ObjectID("6b0610d42418feb384a4dcf7")!, senderID: bob, receiverID: alice, text: nil,
            image: "https://res.cloudinary.com/demo/image/upload/v1/a.png", imageMediaID: "parley/a",
            createdAt: Timestamp(millisecondsSince1970: 1_700_000_000_000),
            updatedAt: Timestamp(millisecondsSince1970: 1_700_000_001_000),
            readAt: Timestamp(millisecondsSince1970: 1_700_000_002_000),
            editedAt: Timestamp(millisecondsSince1970: 1_700_000_001_000),
            deletedAt: Timestamp(millisecondsSince1970: 1_700_000_003_000)),
    ]

    @Test(arguments: messages)
    func writesMessagesAsTheirCodableFormDoes(message: Message) throws {
        var json = JSONWriter()
        message.writeJSON(into: &json)
        let handWritten = try JSONSerialization.jsonObject(with: Data(json.bytes)) as? NSDictionary
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(message)) as? NSDictionary
        #expect(handWritten != nil)
        #expect(handWritten == encoded)
        // Members in the order the Node app's clients know.
        #expect(json.text.hasPrefix(#"{"_id":""#))
    }

    static let events: [ClusterEvent] =
        messages.flatMap { [.messageCreated($0), .messageUpdated($0), .messageDeleted($0)] } + [
            .messagesRead(
                ReadReceipt(
                    by: alice, with: bob, upTo: ObjectID("6b0610d42418feb384a4dcf6")!,
                    readAt: Timestamp(millisecondsSince1970: 1_700_000_009_999))),
            .userOnline(alice), .userOffline(bob), .typing(from: alice, to: bob), .stopTyping(from: bob, to: alice),
            .sessionEnded(tokenFingerprint: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ]

    @Test(arguments: events)
    func survivesTheWire(event: ClusterEvent) {
        #expect(ClusterEvent(encoded: event.encoded()) == event.withoutMediaID)
    }

    /// What the PostgreSQL trigger writes for rows inserted outside the server, and what earlier
    /// versions of the server wrote (sorted keys, escaped slashes, explicit nulls): still read.
    @Test func readsEventsWrittenElsewhere() {
        let trigger = #"""
            {"type" : "message", "message" : {"_id" : "6b0610d42418feb384a4dcf6", "senderId" : "6b0610d42418feb384a4dcf4", "receiverId" : "6b0610d42418feb384a4dcf5", "text" : "hi", "createdAt" : "2023-11-14T22:13:20.123Z", "updatedAt" : "2023-11-14T22:13:20.123Z"}}
            """#
        let foundation = #"""
            {"message":{"_id":"6b0610d42418feb384a4dcf6","createdAt":"2023-11-14T22:13:20.123Z","image":"https:\/\/x\/y.png","readAt":null,"receiverId":"6b0610d42418feb384a4dcf5","senderId":"6b0610d42418feb384a4dcf4","updatedAt":"2023-11-14T22:13:20.123Z"},"type":"message","future":{"field":[1,2]}}
            """#
        guard case .messageCreated(let fromTrigger)? = ClusterEvent(encoded: trigger),
            case .messageCreated(let fromFoundation)? = ClusterEvent(encoded: foundation)
        else {
            Issue.record("not read")
            return
        }
        #expect(fromTrigger.text == "hi")
        #expect(fromTrigger.image == nil)
        #expect(fromTrigger.createdAt.millisecondsSince1970 == 1_700_000_000_123)
        #expect(fromFoundation.image == "https://x/y.png")
        #expect(fromFoundation.readAt == nil)
    }

    @Test(arguments: [
        "", "{}", "[]", "{\"type\":\"message\"}", "{\"type\":\"unknown-kind\",\"user\":\"6b0610d42418feb384a4dcf4\"}",
        "{\"type\":\"online\",\"user\":\"not-an-id\"}", "{\"type\":\"online\",\"user\":5}",
        "{\"type\":\"message\",\"message\":{\"_id\":\"6b0610d42418feb384a4dcf6\"}}",
        "{\"type\":\"message\",\"message\":{\"_id\":\"6b0610d42418feb384a4dcf6\",\"senderId\":\"6b0610d42418feb384a4dcf4\",\"receiverId\":\"6b0610d42418feb384a4dcf5\",\"createdAt\":\"yesterday\",\"updatedAt\":\"2023-11-14T22:13:20.123Z\"}}",
        "{\"type\":\"online\",\"user\":\"6b0610d42418feb384a4dcf4\"} trailing",
    ])
    func ignoresWhatItCannotRead(_ text: String) {
        #expect(ClusterEvent(encoded: text) == nil)
    }
}

extension ClusterEvent {
    /// The media id is the server's own business and does not travel.
    fileprivate var withoutMediaID: ClusterEvent {
        func strip(_ message: Message) -> Message {
            var message = message
            message.imageMediaID = nil
            return message
        }
        switch self {
        case .messageCreated(let message): return .messageCreated(strip(message))
        case .messageUpdated(let message): return .messageUpdated(strip(message))
        case .messageDeleted(let message): return .messageDeleted(strip(message))
        default: return self
        }
    }

}

@Suite("Stored events on the bus")
struct StoredEventWireTests {
    /// A store's announcements carry their position first; the bus reads it back, and anything
    /// but a whole number, 0 or more, makes the announcement unreadable (ignored), never a trap.
    @Test func storedEventsCarryTheirPositionAndABadOneIsRefused() {
        let event = ClusterEvent.messageUpdated(ClusterEventTests.messages[0])
        let body = event.encoded().dropFirst()
        #expect(BusDelivery(encoded: event.encoded()) == .event(event))
        #expect(BusDelivery(encoded: #"{"position":42,"# + body) == .stored(StoredEvent(event: event, position: 42)))
        #expect(BusDelivery(encoded: #"{"position":9223372036854775807,"# + body)?.event == event)
        for bad in ["-1", "1.5", "1e30", "99999999999999999999", "\"7\"", "null", "[]"] {
            #expect(BusDelivery(encoded: #"{"position":"# + bad + "," + body) == nil, "position \(bad)")
        }
        #expect(BusDelivery(encoded: #"{"type":"barrier","token":"t1"}"#) == .event(.barrier("t1")))
        #expect(BusDelivery(encoded: #"{"type":"barrier"}"#) == nil)
    }
}

@Suite("Group events on the bus")
struct GroupEventWireTests {
    static let (ann, bob, group) = (
        ObjectID("6b0610d42418feb384a4dcf4")!, ObjectID("6b0610d42418feb384a4dcf5")!,
        ObjectID("6b0610d42418feb384a4dcf7")!
    )
    static let time = Timestamp(millisecondsSince1970: 1_700_000_000_123)

    static let events: [ClusterEvent] = {
        let message = GroupMessage(
            id: ObjectID("6b0610d42418feb384a4dcf8")!, groupID: group, senderID: ann, text: "hi \"team\" ✓",
            image: "https://x/y.png", createdAt: time, updatedAt: time, editedAt: time)
        let team = Group(id: group, name: "Team ✨", avatar: "", createdAt: time, updatedAt: time)
        return [
            .groupMessageCreated(message), .groupMessageUpdated(message), .groupMessageDeleted(message),
            .groupRead(GroupReadReceipt(groupID: group, by: bob, upTo: message.id, readAt: time)),
            .groupChanged(
                GroupNotice(
                    kind: .memberLeft, group: team, by: ann, removed: [ann],
                    roles: [GroupMember(userID: bob, role: .owner, joinedAt: time)], at: time)),
            .groupChanged(
                GroupNotice(
                    kind: .membersAdded, group: team, by: ann,
                    added: [GroupMember(userID: bob, role: .member, joinedAt: time)], at: time)),
            .groupTyping(from: ann, group: group, stop: false), .groupTyping(from: bob, group: group, stop: true),
        ]
    }()

    @Test(arguments: events)
    func survivesTheWire(event: ClusterEvent) {
        #expect(ClusterEvent(encoded: event.encoded()) == event)
    }

    @Test(arguments: [
        "{\"type\":\"group-message\"}",
        "{\"type\":\"group-message\",\"groupMessage\":{\"_id\":\"6b0610d42418feb384a4dcf8\",\"senderId\":\"6b0610d42418feb384a4dcf4\",\"createdAt\":\"2023-11-14T22:13:20.123Z\",\"updatedAt\":\"2023-11-14T22:13:20.123Z\"}}",
        "{\"type\":\"group-read\",\"groupReceipt\":{\"groupId\":\"x\",\"by\":\"6b0610d42418feb384a4dcf4\"}}",
        "{\"type\":\"group-changed\",\"notice\":{\"change\":\"exploded\"}}",
        "{\"type\":\"group-changed\",\"notice\":{\"change\":\"closed\",\"groupId\":\"6b0610d42418feb384a4dcf7\",\"by\":\"6b0610d42418feb384a4dcf4\",\"at\":\"2023-11-14T22:13:20.123Z\",\"group\":{\"_id\":\"6b0610d42418feb384a4dcf7\"}}}",
        "{\"type\":\"group-changed\",\"notice\":{\"change\":\"member-left\",\"added\":[{\"userId\":\"6b0610d42418feb384a4dcf4\",\"role\":\"king\"}]}}",
        "{\"type\":\"group-changed\",\"notice\":{\"change\":\"member-left\",\"removed\":[7]}}",
        "{\"type\":\"group-typing\",\"from\":\"6b0610d42418feb384a4dcf4\"}",
        "{\"type\":\"group-typing\",\"from\":\"6b0610d42418feb384a4dcf4\",\"group\":[]}",
    ])
    func ignoresWhatItCannotRead(_ text: String) {
        #expect(ClusterEvent(encoded: text) == nil)
    }
}
