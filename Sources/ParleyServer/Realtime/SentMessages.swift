import ParleyDomain
import Synchronization

/// Messages sent through `send-message` whose event has not come back from the bus yet, with the
/// socket that sent them: that socket has its acknowledgement and does not also get
/// `new-message`.
final class SentMessages: Sendable {
    private struct Entry {
        let socket: String
        let at: ContinuousClock.Instant
    }

    /// Past this many entries, those older than a minute (their event never came: the bus was
    /// down) are dropped, so the table stays small.
    static let pruneAbove = 1000

    /// How many acknowledged messages are remembered with their socket, for recovery.
    static let remembered = 4096

    private let entries = Mutex<[ObjectID: Entry]>([:])
    private let acknowledged = Mutex(AcknowledgedMessages())

    /// The latest messages whose event came back, with the socket that sent them (oldest
    /// forgotten first).
    private struct AcknowledgedMessages {
        var sockets: [ObjectID: String] = [:]
        var order: [ObjectID] = []
        var next = 0

        mutating func add(_ message: ObjectID, socket: String) {
            if order.count < SentMessages.remembered {
                order.append(message)
            } else {
                sockets[order[next]] = nil
                order[next] = message
                next = (next + 1) % order.count
            }
            sockets[message] = socket
        }
    }

    func sending(_ message: ObjectID, from socket: String, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            entries[message] = Entry(socket: socket, at: now)
            guard entries.count > Self.pruneAbove else { return }
            let cutoff = now - .seconds(60)
            entries = entries.filter { $0.value.at > cutoff }
        }
    }

    /// The message was not stored: forget it.
    func failed(_ message: ObjectID) {
        _ = entries.withLock { $0.removeValue(forKey: message) }
    }

    /// The message's event arrived: the socket that sent it, if it was sent from this instance.
    func delivered(_ message: ObjectID) -> String? {
        guard let socket = entries.withLock({ $0.removeValue(forKey: message)?.socket }) else { return nil }
        acknowledged.withLock { $0.add(message, socket: socket) }
        return socket
    }

    /// The socket that sent `message` and had it acknowledged, if it was sent lately from this
    /// instance: recovery does not send it that message again. (One whose event has not come back
    /// may not have had its acknowledgement: its connection may have closed first. Recovery sends
    /// it that message, perhaps a second time, rather than not at all.)
    func sender(of message: ObjectID) -> String? {
        acknowledged.withLock { $0.sockets[message] }
    }
}
