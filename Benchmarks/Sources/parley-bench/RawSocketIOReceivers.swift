import CEpoll
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Thousands of Socket.IO clients over WebSocket, driven by plain epoll loops, for the fan-out
/// benchmark.
///
/// The server under test and the load generator share the machine's two cores, so the time until
/// the last of 10,000 clients has a broadcast depends on what receiving costs. Through NIO a
/// client costs ~10 µs of CPU per event (channel pipeline, frame decoder, buffer allocation);
/// here an arrival is one `read(2)` into a shared buffer and a prefix comparison. The protocol
/// subset is what an idle client needs: the WebSocket upgrade, the Engine.IO open packet, CONNECT
/// to `/`, pongs, and events.
final class RawSocketIOReceivers: @unchecked Sendable {
    /// What a receiving loop reports.
    private struct Arrivals {
        var prefix: [UInt8] = []
        var expected = 0
        var received = 0
        var first: ContinuousClock.Instant?
        var last: ContinuousClock.Instant?
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let sockets: [Int32]
    private let loops: [Int32]
    private let arrivals = Mutex(Arrivals())
    private let running = Atomic<Bool>(true)
    private let closedByServer = Atomic<Int>(0)
    private let coalescingMicroseconds: UInt32

    var count: Int { sockets.count }
    var closedCount: Int { closedByServer.load(ordering: .relaxed) }

    /// Connects `count` clients (blocking, one after another) and starts `threads` loops.
    /// - Parameters:
    ///   - auth: the CONNECT payload of client `index` (e.g. `{"token":"…"}`), or `nil` for none.
    ///   - coalescing: how long a loop lets events accumulate after a busy read.
    init(
        host: String, port: Int, count: Int, threads: Int, coalescing: Duration,
        auth: (_ index: Int) -> String? = { _ in nil }
    ) throws {
        let (seconds, attoseconds) = coalescing.components
        self.coalescingMicroseconds = UInt32(clamping: seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        var sockets: [Int32] = []
        sockets.reserveCapacity(count)
        for index in 0..<count {
            sockets.append(try Self.connect(host: host, port: port, auth: auth(index)))
        }
        self.sockets = sockets
        var loops: [Int32] = []
        for _ in 0..<max(1, threads) {
            let loop = epoll_create1(0)
            guard loop >= 0 else { throw BenchError("epoll_create1: \(errno)") }
            loops.append(loop)
        }
        self.loops = loops
        for (index, socket) in sockets.enumerated() {
            guard fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK) == 0 else {
                throw BenchError("fcntl: \(errno)")
            }
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.fd = socket
            guard epoll_ctl(loops[index % loops.count], EPOLL_CTL_ADD, socket, &event) == 0 else {
                throw BenchError("epoll_ctl: \(errno)")
            }
        }
        let highest = Int(sockets.max() ?? 0)
        for loop in loops {
            let thread = Thread { [self] in self.run(loop: loop, highestSocket: highest) }
            thread.name = "receivers"
            thread.start()
        }
    }

    /// Stops the loops and closes every connection.
    func close() {
        running.store(false, ordering: .relaxed)
        for socket in sockets { _ = Glibc.close(socket) }
    }

    /// Sends a text message (`42[...]` for an event) as client `index`.
    func send(_ text: String, from index: Int = 0) throws {
        let frame = Self.maskedTextFrame(text)
        let written = frame.withUnsafeBytes { write(sockets[index], $0.baseAddress, $0.count) }
        guard written == frame.count else { throw BenchError("write: \(errno)") }
    }

    /// Resets the arrival count for events whose text starts with `prefix`.
    func expect(_ count: Int, eventsStartingWith prefix: String) {
        arrivals.withLock { state in
            state = Arrivals(prefix: Array(prefix.utf8), expected: count)
        }
    }

    /// Events that arrived since the last ``expect(_:eventsStartingWith:)`` and matched it.
    var receivedCount: Int { arrivals.withLock { $0.received } }

    /// Waits until the expected number of events arrived or `timeout` passed; returns the
    /// times of the first and the last arrival, or `nil` on timeout.
    func waitForArrivals(timeout: Duration) async -> (first: ContinuousClock.Instant, last: ContinuousClock.Instant)? {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let done = self.arrivals.withLock { state -> Bool in
                        guard state.received < state.expected else { return true }
                        state.waiter = continuation
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                let waiter = self.arrivals.withLock { state in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
            await group.next()
            group.cancelAll()
            await group.waitForAll()
        }
        return arrivals.withLock { state in
            guard state.received >= state.expected, let first = state.first, let last = state.last else { return nil }
            return (first, last)
        }
    }

    // MARK: Receiving

    private func run(loop: Int32, highestSocket: Int) {
        var events = [epoll_event](repeating: epoll_event(), count: 1024)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        // Bytes of a frame split across reads, by socket.
        var partial = [[UInt8]](repeating: [], count: highestSocket + 1)
        while running.load(ordering: .relaxed) {
            let ready = epoll_wait(loop, &events, Int32(events.count), 100)
            guard ready > 0 else { continue }
            defer {
                // While events keep coming, collect them for a moment rather than being woken for
                // each one: a wake-up is paid by the server's write (an interprocessor interrupt
                // on a virtual machine), which a client on another machine would not cost it.
                // Arrivals are stamped when read, so this can only make the figures later.
                if coalescingMicroseconds > 0, Int(ready) < events.count { usleep(coalescingMicroseconds) }
            }
            for index in 0..<Int(ready) {
                let socket = events[index].data.fd
                let count = buffer.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
                if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) {
                    epoll_ctl(loop, EPOLL_CTL_DEL, socket, nil)
                    closedByServer.add(1, ordering: .relaxed)
                    continue
                }
                guard count > 0 else { continue }
                if partial[Int(socket)].isEmpty {
                    let used = buffer.withUnsafeBytes { bytes in
                        handleFrames(in: UnsafeRawBufferPointer(rebasing: bytes[..<count]), socket: socket)
                    }
                    if used < count { partial[Int(socket)] = Array(buffer[used..<count]) }
                } else {
                    partial[Int(socket)] += buffer[..<count]
                    let used = partial[Int(socket)].withUnsafeBytes { handleFrames(in: $0, socket: socket) }
                    partial[Int(socket)].removeFirst(used)
                }
            }
        }
        _ = Glibc.close(loop)
    }

    /// Handles the complete frames at the start of `bytes`; returns how many bytes they took.
    private func handleFrames(in bytes: UnsafeRawBufferPointer, socket: Int32) -> Int {
        var offset = 0
        while let frame = Self.frame(in: bytes, at: offset) {
            offset = frame.end
            guard frame.opcode == 0x1 else { continue }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[frame.payload])
            if payload.first == UInt8(ascii: "2") {
                let pong = Self.maskedTextFrame("3")
                _ = pong.withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
            } else if payload.first == UInt8(ascii: "4") {
                arrived(payload)
            }
        }
        return offset
    }

    private func arrived(_ payload: UnsafeRawBufferPointer) {
        let now = ContinuousClock.now
        let waiter = arrivals.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.prefix.isEmpty, payload.starts(with: state.prefix) else { return nil }
            state.received += 1
            if state.first == nil { state.first = now }
            state.last = now
            guard state.received == state.expected else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    // MARK: Frames

    /// The server frame (unmasked) starting at `offset`, if complete.
    static func frame(in bytes: UnsafeRawBufferPointer, at offset: Int)
        -> (opcode: UInt8, payload: Range<Int>, end: Int)?
    {
        guard bytes.count - offset >= 2 else { return nil }
        let opcode = bytes[offset] & 0x0F
        var length = Int(bytes[offset + 1] & 0x7F)
        var header = 2
        if length == 126 {
            guard bytes.count - offset >= 4 else { return nil }
            length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            header = 4
        } else if length == 127 {
            guard bytes.count - offset >= 10 else { return nil }
            length = (0..<8).reduce(0) { $0 << 8 | Int(bytes[offset + 2 + $1]) }
            header = 10
        }
        let start = offset + header
        guard bytes.count - start >= length else { return nil }
        return (opcode, start..<start + length, start + length)
    }

    /// A client text frame; the mask key is zero, so the payload is sent as is.
    static func maskedTextFrame(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        frame += [0, 0, 0, 0]
        return frame + payload
    }

    // MARK: Connecting

    /// A connected, blocking socket whose client has joined `/` (with `auth` as its CONNECT
    /// payload).
    static func connect(host: String, port: Int, auth: String?) throws -> Int32 {
        let socket = try RawSocket.connect(host: host, port: port)
        do {
            try join(socket, host: host, port: port, auth: auth)
            return socket
        } catch {
            _ = Glibc.close(socket)
            throw error
        }
    }

    private static func join(_ socket: Int32, host: String, port: Int, auth: String?) throws {
        let request = Array(
            ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: \(host):\(port)\r\n"
                + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Version: 13\r\n\r\n").utf8)
        try RawSocket.writeAll(request, to: socket)
        var received: [UInt8] = []
        let endOfHead = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            try RawSocket.readSome(from: socket, into: &received)
            headEnd = received.firstRange(of: endOfHead)?.upperBound
        }
        guard received.starts(with: Array("HTTP/1.1 101".utf8)) else {
            throw BenchError("upgrade refused: \(String(decoding: received, as: UTF8.self))")
        }
        received.removeFirst(headEnd!)
        // The open packet, then our CONNECT's answer.
        var joined = false
        while !joined {
            while let frame = received.withUnsafeBytes({ Self.frame(in: $0, at: 0) }) {
                let payload = Array(received[frame.payload])
                received.removeFirst(frame.end)
                if payload.first == UInt8(ascii: "0") {
                    try RawSocket.writeAll(maskedTextFrame("40" + (auth ?? "")), to: socket)
                } else if payload.starts(with: Array("40".utf8)) {
                    joined = true
                } else if payload.starts(with: Array("44".utf8)) {
                    throw BenchError("CONNECT refused: \(String(decoding: payload, as: UTF8.self))")
                }
            }
            if !joined { try RawSocket.readSome(from: socket, into: &received) }
        }
        // Events may follow the CONNECT answer at once (Parley sends `online-users`): they came
        // before anything is measured, so they are read to the end of a frame and dropped.
        while !received.isEmpty {
            while let frame = received.withUnsafeBytes({ Self.frame(in: $0, at: 0) }) {
                received.removeFirst(frame.end)
            }
            if !received.isEmpty { try RawSocket.readSome(from: socket, into: &received) }
        }
    }
}
