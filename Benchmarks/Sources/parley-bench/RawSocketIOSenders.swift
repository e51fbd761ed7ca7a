import CEpoll
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Closed-loop Socket.IO clients over WebSocket, each with one acknowledged event in flight,
/// driven by one epoll loop, for the send-rate benchmark through `send-message`.
///
/// The counterpart of ``RawHTTPSenders`` for clients that send over their socket: an event costs
/// the load generator one `write(2)`, a `read(2)` and a scan of the acknowledgement.
final class RawSocketIOSenders {
    /// Makes connection `connection`'s event number `sequence`: the text after `42<ack id>`,
    /// e.g. `["send-message",{…}]`.
    typealias EventMaker = (_ connection: Int, _ sequence: Int) -> String

    struct Outcome {
        var completed = 0
        /// Acknowledgements that did not say `"ok":true`.
        var failed = 0
        var firstFailure: String?
    }

    private struct Connection {
        let socket: Int32
        var sequence = 0
        var pending: [UInt8] = []
    }

    private var connections: [Connection] = []
    private let loop: Int32
    private let makeEvent: EventMaker

    /// Connects `count` clients to `/` (blocking, one after another), client `index` with
    /// `auth(index)` as its CONNECT payload.
    init(host: String, port: Int, count: Int, auth: (_ index: Int) -> String?, makeEvent: @escaping EventMaker) throws {
        self.makeEvent = makeEvent
        loop = epoll_create1(0)
        guard loop >= 0 else { throw BenchError("epoll_create1: \(errno)") }
        for index in 0..<count {
            let socket = try RawSocketIOReceivers.connect(host: host, port: port, auth: auth(index))
            guard fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK) == 0 else {
                throw BenchError("fcntl: \(errno)")
            }
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = UInt64(index)
            guard epoll_ctl(loop, EPOLL_CTL_ADD, socket, &event) == 0 else { throw BenchError("epoll_ctl: \(errno)") }
            connections.append(Connection(socket: socket))
        }
    }

    deinit {
        for connection in connections { _ = Glibc.close(connection.socket) }
        _ = Glibc.close(loop)
    }

    /// Sends an event on every connection, each as soon as the previous one's acknowledgement
    /// arrived, until `duration` has passed; then waits for the acknowledgements in flight.
    func run(for duration: Duration) throws -> Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        var outcome = Outcome()
        for index in connections.indices { try send(on: index) }
        var inFlight = connections.count
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while inFlight > 0 {
            let ready = epoll_wait(loop, &events, Int32(events.count), 1000)
            if ready < 0, errno == EINTR { continue }
            guard ready >= 0 else { throw BenchError("epoll_wait: \(errno)") }
            for event in events[..<Int(ready)] {
                let index = Int(event.data.u64)
                let count = buffer.withUnsafeMutableBytes { read(connections[index].socket, $0.baseAddress, $0.count) }
                if count < 0, errno == EAGAIN || errno == EINTR { continue }
                guard count > 0 else { throw BenchError("the server closed a socket") }
                connections[index].pending += buffer[..<count]
                let (used, acknowledgements) = try handleFrames(of: index, &outcome)
                connections[index].pending.removeFirst(used)
                for _ in 0..<acknowledgements {
                    if clock.now < deadline {
                        try send(on: index)
                    } else {
                        inFlight -= 1
                    }
                }
            }
        }
        return outcome
    }

    private func send(on index: Int) throws {
        let sequence = connections[index].sequence
        connections[index].sequence += 1
        let frame = RawSocketIOReceivers.maskedTextFrame("42\(sequence)" + makeEvent(index, sequence))
        try RawSocket.writeAll(frame, to: connections[index].socket)
    }

    /// Answers pings and counts acknowledgements in the complete frames pending on connection
    /// `index`; returns the bytes they took and how many acknowledgements there were.
    private func handleFrames(of index: Int, _ outcome: inout Outcome) throws -> (used: Int, acknowledgements: Int) {
        let socket = connections[index].socket
        return try connections[index].pending.withUnsafeBytes { bytes in
            var offset = 0
            var acknowledgements = 0
            while let frame = RawSocketIOReceivers.frame(in: bytes, at: offset) {
                offset = frame.end
                if frame.opcode == 0x8 { throw BenchError("the server closed a socket") }
                guard frame.opcode == 0x1 else { continue }
                let payload = UnsafeRawBufferPointer(rebasing: bytes[frame.payload])
                if payload.first == UInt8(ascii: "2") {
                    try RawSocket.writeAll(RawSocketIOReceivers.maskedTextFrame("3"), to: socket)
                } else if payload.starts(with: Self.acknowledgement) {
                    acknowledgements += 1
                    if payload.firstRange(of: Self.ok) != nil {
                        outcome.completed += 1
                    } else {
                        outcome.failed += 1
                        if outcome.firstFailure == nil {
                            outcome.firstFailure = String(decoding: payload.prefix(200), as: UTF8.self)
                        }
                    }
                }
            }
            return (offset, acknowledgements)
        }
    }

    private static let acknowledgement = Array("43".utf8)
    private static let ok = Array("\"ok\":true".utf8)
}
