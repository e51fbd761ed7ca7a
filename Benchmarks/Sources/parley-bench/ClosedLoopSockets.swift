import CEpoll

#if canImport(Glibc)
import Glibc
#endif

/// Connections that each keep one request in flight, driven by one epoll loop: what the raw
/// senders (``RawHTTPSenders``, ``RawSocketIOSenders``) share. A sender says how to send on a
/// connection and how many answers the bytes received on it complete.
final class ClosedLoopSockets {
    /// What the sends of a run came to.
    struct Outcome {
        var completed = 0
        /// Answers that say the send failed (another status, an acknowledgement without
        /// `"ok":true`).
        var failed = 0
        var firstFailure: String?
    }

    private let sockets: [Int32]
    private var received: [[UInt8]]
    private let loop: Int32

    /// Takes over connected sockets (and closes them when done).
    init(_ sockets: [Int32]) throws {
        self.sockets = sockets
        self.received = Array(repeating: [], count: sockets.count)
        loop = epoll_create1(0)
        guard loop >= 0 else { throw BenchError("epoll_create1: \(errno)") }
        for (index, socket) in sockets.enumerated() {
            guard fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK) == 0 else {
                throw BenchError("fcntl: \(errno)")
            }
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = UInt64(index)
            guard epoll_ctl(loop, EPOLL_CTL_ADD, socket, &event) == 0 else { throw BenchError("epoll_ctl: \(errno)") }
        }
    }

    deinit {
        for socket in sockets { _ = Glibc.close(socket) }
        _ = Glibc.close(loop)
    }

    var count: Int { sockets.count }

    func socket(_ index: Int) -> Int32 { sockets[index] }

    /// Calls `send` for every connection, and again for a connection each time `answers` finds an
    /// answer complete, until `duration` has passed; then waits for the answers in flight.
    /// `answers` gets the bytes received on a connection so far, removes those it used, and
    /// returns how many answers they completed.
    func run(
        for duration: Duration,
        send: (_ connection: Int) throws -> Void,
        answers: (_ connection: Int, _ received: inout [UInt8]) throws -> Int
    ) throws {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        for index in sockets.indices { try send(index) }
        var inFlight = sockets.count
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while inFlight > 0 {
            let ready = epoll_wait(loop, &events, Int32(events.count), 1000)
            if ready < 0, errno == EINTR { continue }
            guard ready >= 0 else { throw BenchError("epoll_wait: \(errno)") }
            for event in events[..<Int(ready)] {
                let index = Int(event.data.u64)
                let count = buffer.withUnsafeMutableBytes { read(sockets[index], $0.baseAddress, $0.count) }
                if count < 0, errno == EAGAIN || errno == EINTR { continue }
                guard count > 0 else { throw BenchError("the server closed a connection") }
                received[index] += buffer[..<count]
                for _ in 0..<(try answers(index, &received[index])) {
                    if clock.now < deadline {
                        try send(index)
                    } else {
                        inFlight -= 1
                    }
                }
            }
        }
    }
}
