import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Closed-loop HTTP/1.1 clients on keep-alive connections, driven by one epoll loop, for the
/// send-rate benchmark.
///
/// The server, PostgreSQL and the load generator share the machine's two cores, and the figure is
/// compared with pgbench, a C client. Through AsyncHTTPClient a request costs the load generator
/// ~200 µs of CPU, about as much as the server spends on it; here it is one `write(2)`, one or two
/// `read(2)`s and a scan of the response head. Each connection has one request in flight.
final class RawHTTPSenders {
    /// Makes connection `connection`'s request number `sequence`, complete with head and body.
    typealias RequestMaker = (_ connection: Int, _ sequence: Int) -> [UInt8]

    typealias Outcome = ClosedLoopSockets.Outcome

    private let connections: ClosedLoopSockets
    private var sequences: [Int]
    private let expectedStatus: Int
    private let makeRequest: RequestMaker

    /// Opens `count` connections to `host:port`.
    init(host: String, port: Int, count: Int, expectedStatus: Int, makeRequest: @escaping RequestMaker) throws {
        self.expectedStatus = expectedStatus
        self.makeRequest = makeRequest
        connections = try ClosedLoopSockets((0..<count).map { _ in try RawSocket.connect(host: host, port: port) })
        sequences = Array(repeating: 0, count: count)
    }

    /// Sends requests on every connection, each as soon as the previous answer is complete, until
    /// `duration` has passed; then waits for the answers in flight.
    func run(for duration: Duration) throws -> Outcome {
        var outcome = Outcome()
        try connections.run(for: duration) { index in
            let request = makeRequest(index, sequences[index])
            sequences[index] += 1
            try RawSocket.writeAll(request, to: connections.socket(index))
        } answers: { _, received in
            var answers = 0
            while let status = try Self.completeResponse(&received) {
                answers += 1
                if status == expectedStatus {
                    outcome.completed += 1
                } else {
                    outcome.failed += 1
                    if outcome.firstFailure == nil { outcome.firstFailure = "HTTP \(status)" }
                }
            }
            return answers
        }
        return outcome
    }

    /// The status of the response at the start of `bytes` once it is complete (and removes it),
    /// or `nil` while more is to come. Only `Content-Length` bodies are expected. Scans bytes:
    /// what the load generator spends, the server cannot.
    private static func completeResponse(_ bytes: inout [UInt8]) throws -> Int? {
        let parsed = bytes.withUnsafeBufferPointer { buffer -> (status: Int, length: Int)? in
            var status = -1
            var length = 0
            var lineStart = 0
            var index = 0
            while index + 1 < buffer.count {
                guard buffer[index] == 13, buffer[index + 1] == 10 else {
                    index += 1
                    continue
                }
                if index == lineStart {
                    // The empty line: the head ends here.
                    let end = index + 2 + length
                    return buffer.count >= end ? (status, end) : nil
                }
                if lineStart == 0 {
                    if index >= 12, buffer[0] == UInt8(ascii: "H") {
                        status = (9..<12).reduce(0) { $0 * 10 + Int(buffer[$1]) - 48 }
                    }
                } else if index - lineStart > contentLength.count,
                    (0..<contentLength.count).allSatisfy({ buffer[lineStart + $0] | 0x20 == contentLength[$0] })
                {
                    length = (lineStart + contentLength.count..<index).reduce(0) { value, position in
                        (48...57).contains(buffer[position]) ? value * 10 + Int(buffer[position]) - 48 : value
                    }
                }
                index += 2
                lineStart = index
            }
            return nil
        }
        guard let (status, end) = parsed else { return nil }
        guard status >= 0 else {
            throw BenchError("not an HTTP response: \(String(decoding: bytes.prefix(80), as: UTF8.self))")
        }
        bytes.removeFirst(end)
        return status
    }

    private static let contentLength = Array("content-length:".utf8)
}

/// Blocking socket helpers shared by the raw clients.
enum RawSocket {
    /// A connected TCP socket with Nagle's algorithm off.
    static func connect(host: String, port: Int) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw BenchError("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            _ = Glibc.close(socket)
            throw BenchError("not an IPv4 address: \(host)")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            _ = Glibc.close(socket)
            throw BenchError("connect: \(errno)")
        }
        var on: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        return socket
    }

    /// Writes all of `bytes`, waiting for room if the socket is non-blocking and full.
    static func writeAll(_ bytes: [UInt8], to socket: Int32) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(socket, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                guard errno == EAGAIN || errno == EINTR else { throw BenchError("write: \(errno)") }
                var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 100)
                continue
            }
            offset += written
        }
    }

    /// Reads what is there (blocking) and appends it to `bytes`.
    static func readSome(from socket: Int32, into bytes: inout [UInt8]) throws {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
        guard count > 0 else { throw BenchError("the connection closed") }
        bytes += chunk[..<count]
    }
}
