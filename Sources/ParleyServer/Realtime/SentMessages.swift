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

    private let entries = Mutex<[ObjectID: Entry]>([:])

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
        entries.withLock { $0.removeValue(forKey: message)?.socket }
    }
}
