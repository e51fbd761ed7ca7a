import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A Socket.IO client over HTTP long-polling (Engine.IO v4) on AsyncHTTPClient: joins `/` with a
/// CONNECT payload, keeps one poll (GET) open, answers pings and sends packets with POSTs, one at
/// a time as the protocol wants (queued packets go together in one payload). What a browser does
/// behind a proxy that refuses WebSocket upgrades.
final class SocketIOPollingClient: Sendable {
    /// Packet separator in a polling payload.
    private static let separator: Character = "\u{1e}"

    private let http: HTTPClient
    /// The session's URL (`…/socket.io/?EIO=4&transport=polling&sid=…`).
    private let endpoint: String
    private let onAck: @Sendable (_ id: Int, _ arguments: Substring) -> Void
    private let onEnded: @Sendable (_ reason: String) -> Void
    /// Engine.IO packets waiting for the next POST.
    private let outgoing = Mutex<[String]>([])
    private let wakeWriter: AsyncStream<Void>.Continuation
    private let writerWakeUps: AsyncStream<Void>
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// Set once the client leaves: errors after it are expected.
    private let leaving = Atomic<Bool>(false)
    /// Set once the client fell silent: nothing more is read or sent.
    private let silent = Atomic<Bool>(false)
    /// Set once the session's unexpected end was reported.
    private let reported = Atomic<Bool>(false)

    private init(
        http: HTTPClient,
        endpoint: String,
        onAck: @escaping @Sendable (Int, Substring) -> Void,
        onEnded: @escaping @Sendable (String) -> Void
    ) {
        self.http = http
        self.endpoint = endpoint
        self.onAck = onAck
        self.onEnded = onEnded
        (writerWakeUps, wakeWriter) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Opens a session at `baseURL`, joins `/` with `auth` (e.g. `{"token":"…"}`) and returns once
    /// the server has answered the CONNECT. `onAck` gets each acknowledgement's id and arguments;
    /// `onEnded` is called once if the session ends without ``disconnect()`` or ``drop()``.
    static func connect(
        http: HTTPClient,
        baseURL: String,
        auth: String,
        onAck: @escaping @Sendable (_ id: Int, _ arguments: Substring) -> Void = { _, _ in },
        onEnded: @escaping @Sendable (_ reason: String) -> Void = { _ in }
    ) async throws -> SocketIOPollingClient {
        let base = baseURL + "/socket.io/?EIO=4&transport=polling"
        let open = try await request(http, "GET", base)
        guard open.hasPrefix("0"),
            let json = try? JSONSerialization.jsonObject(with: Data(open.dropFirst().utf8)) as? [String: Any],
            let sid = json["sid"] as? String
        else { throw BenchError("polling handshake: \(open.prefix(200))") }
        let client = SocketIOPollingClient(
            http: http, endpoint: base + "&sid=" + sid, onAck: onAck, onEnded: onEnded)
        let accepted = try await request(http, "POST", client.endpoint, body: "40" + auth)
        guard accepted == "ok" else { throw BenchError("polling CONNECT: \(accepted.prefix(200))") }
        // The CONNECT's answer, possibly after a ping and followed by events (`online-users`).
        var joined = false
        while !joined {
            for packet in try await request(http, "GET", client.endpoint).split(separator: separator) {
                if packet.hasPrefix("40") {
                    joined = true
                } else if packet.hasPrefix("44") {
                    throw BenchError("CONNECT refused: \(packet.prefix(200))")
                } else if packet == "2" {
                    client.send("3")
                } else if packet == "1" {
                    throw BenchError("the server closed the session before CONNECT was answered")
                }
            }
        }
        client.start()
        return client
    }

    /// Sends a Socket.IO packet (the text after Engine.IO's `4`, e.g. `2<id>["event",…]`).
    func emit(_ packet: String) {
        send("4" + packet)
    }

    /// Leaves as a client that is told to: DISCONNECT from `/`, then CLOSE the session. Returns
    /// whether the server then answered the open poll by itself (within two seconds), as it
    /// should once the session is closed; if not, the poll is abandoned.
    @discardableResult
    func disconnect() async -> Bool {
        guard !leaving.exchange(true, ordering: .relaxed) else { return true }
        outgoing.withLock { $0 += ["41", "1"] }
        wakeWriter.yield()
        wakeWriter.finish()
        let (poller, writer) = tasks.withLock { ($0[0], $0[1]) }
        await writer.value
        let answered = Atomic<Bool>(true)
        let patience = Task {
            try? await Task.sleep(for: .seconds(2))
            guard !Task.isCancelled else { return }
            answered.store(false, ordering: .relaxed)
            poller.cancel()
        }
        await poller.value
        patience.cancel()
        return answered.load(ordering: .relaxed)
    }

    /// Leaves as a client that goes away: the open poll's connection is closed, nothing more is
    /// sent. Also what cleans up after the session ended on the server's side.
    func drop() async {
        leaving.store(true, ordering: .relaxed)
        wakeWriter.finish()
        let running = tasks.withLock { $0 }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }

    /// Stops answering, pings included, as a client whose network went away: the open poll is
    /// left to end when the server answers it, and no other is made.
    func fallSilent() {
        leaving.store(true, ordering: .relaxed)
        silent.store(true, ordering: .relaxed)
        wakeWriter.finish()
    }

    /// Whether the server has forgotten the session: one poll, answered "Session ID unknown"
    /// (400). Only for a client that fell silent and whose last poll was answered; a poll of a
    /// live session waits for its next packet.
    func isForgotten() async -> Bool {
        await tasks.withLock { $0[0] }.value
        do {
            _ = try await Self.request(http, "GET", endpoint, timeout: .seconds(60))
            return false
        } catch let error as BenchError {
            return error.description.hasPrefix("GET HTTP 400")
        } catch {
            return false
        }
    }

    private func send(_ packet: String) {
        outgoing.withLock { $0.append(packet) }
        wakeWriter.yield()
    }

    private func start() {
        let poller = Task { await self.poll() }
        let writer = Task { await self.write() }
        tasks.withLock { $0 = [poller, writer] }
    }

    /// The session ended without the client leaving: reported once.
    private func ended(_ reason: String) {
        wakeWriter.finish()
        guard !leaving.load(ordering: .relaxed), !reported.exchange(true, ordering: .relaxed) else { return }
        onEnded(reason)
    }

    private func poll() async {
        while !Task.isCancelled {
            let payload: String
            do {
                // A poll lasts up to the ping interval (25 s by default) when there is nothing to say.
                payload = try await Self.request(http, "GET", endpoint, timeout: .seconds(90))
            } catch {
                if !Task.isCancelled { ended("poll: \(error)") }
                return
            }
            if leaving.load(ordering: .relaxed) || silent.load(ordering: .relaxed) { return }
            for packet in payload.split(separator: Self.separator) {
                if packet == "2" {
                    send("3")
                } else if packet == "1" {
                    ended("the server closed the session")
                    return
                } else if packet.hasPrefix("43") {
                    let digits = packet.dropFirst(2).prefix(while: \.isNumber)
                    onAck(Int(digits) ?? -1, packet.dropFirst(2 + digits.count))
                } else if packet.hasPrefix("41") {
                    ended("the server disconnected the socket")
                    return
                }
            }
        }
    }

    private func write() async {
        for await _ in writerWakeUps {
            let packets = outgoing.withLock { queued in
                defer { queued = [] }
                return queued
            }
            guard !packets.isEmpty else { continue }
            do {
                let answer = try await Self.request(
                    http, "POST", endpoint, body: packets.joined(separator: String(Self.separator)))
                guard answer == "ok" else { throw BenchError("POST answered \(answer.prefix(200))") }
            } catch {
                if !Task.isCancelled { ended("post: \(error)") }
                return
            }
        }
        // Finished: send what was queued last (a disconnect's packets).
        let packets = outgoing.withLock { queued in
            defer { queued = [] }
            return queued
        }
        if !packets.isEmpty, !Task.isCancelled, !silent.load(ordering: .relaxed) {
            _ = try? await Self.request(http, "POST", endpoint, body: packets.joined(separator: String(Self.separator)))
        }
    }

    /// One request; its body as text, or an error for any status but 200.
    private static func request(
        _ http: HTTPClient,
        _ method: String,
        _ url: String,
        body: String? = nil,
        timeout: TimeAmount = .seconds(30)
    ) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "text/plain;charset=UTF-8")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: timeout)
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else {
            throw BenchError("\(method) HTTP \(response.status.code) \(text.prefix(200))")
        }
        return text
    }
}
