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

    typealias Outcome = ClosedLoopSockets.Outcome

    private let connections: ClosedLoopSockets
    private var sequences: [Int]
    private let makeEvent: EventMaker

    /// Connects `count` clients to `/` (blocking, one after another), client `index` with
    /// `auth(index)` as its CONNECT payload.
    init(host: String, port: Int, count: Int, auth: (_ index: Int) -> String?, makeEvent: @escaping EventMaker) throws {
        self.makeEvent = makeEvent
        connections = try ClosedLoopSockets(
            (0..<count).map { try RawSocketIOReceivers.connect(host: host, port: port, auth: auth($0)) })
        sequences = Array(repeating: 0, count: count)
    }

    /// Sends an event on every connection, each as soon as the previous one's acknowledgement
    /// arrived, until `duration` has passed; then waits for the acknowledgements in flight.
    func run(for duration: Duration) throws -> Outcome {
        var outcome = Outcome()
        try connections.run(for: duration) { index in
            let sequence = sequences[index]
            sequences[index] += 1
            let frame = RawSocketIOReceivers.maskedTextFrame("42\(sequence)" + makeEvent(index, sequence))
            try RawSocket.writeAll(frame, to: connections.socket(index))
        } answers: { index, received in
            let (used, acknowledgements) = try received.withUnsafeBytes { bytes in
                try handleFrames(in: bytes, socket: connections.socket(index), &outcome)
            }
            received.removeFirst(used)
            return acknowledgements
        }
        return outcome
    }

    /// Answers pings and counts acknowledgements in the complete frames at the start of `bytes`;
    /// returns the bytes they took and how many acknowledgements there were.
    private func handleFrames(in bytes: UnsafeRawBufferPointer, socket: Int32, _ outcome: inout Outcome) throws
        -> (used: Int, acknowledgements: Int)
    {
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

    private static let acknowledgement = Array("43".utf8)
    private static let ok = Array("\"ok\":true".utf8)
}
