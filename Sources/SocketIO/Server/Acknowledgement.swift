import NIOConcurrencyHelpers

/// The reply to a client's event that asked for one (`socket.emit("x", data, callback)`).
/// Only the first call is sent.
public struct Acknowledgement: Sendable {
    private let sent = NIOLockedValueBox(false)
    private let reply: @Sendable ([SocketValue]) -> Void

    init(reply: @escaping @Sendable ([SocketValue]) -> Void) {
        self.reply = reply
    }

    public func callAsFunction(_ arguments: SocketValue...) {
        send(arguments)
    }

    public func send(_ arguments: [SocketValue]) {
        let first = sent.withLockedValue { sent in
            defer { sent = true }
            return !sent
        }
        if first { reply(arguments) }
    }
}
