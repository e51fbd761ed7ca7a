import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import SocketIO

@Suite("HTTP connection guard: state machine")
struct HTTPConnectionGuardStateMachineTests {
    typealias Machine = HTTPConnectionGuardStateMachine
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let limits = Machine.Limits(requestHead: .seconds(10), requestBody: .seconds(5), idle: .seconds(20))

    func head(_ method: HTTPMethod = .GET) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: method, uri: "/"))
    }
    func response(_ status: HTTPResponseStatus = .ok) -> HTTPServerResponsePart {
        .head(HTTPResponseHead(version: .http1_1, status: status))
    }
    func at(_ seconds: Int64) -> NIODeadline { start + .seconds(seconds) }

    @Test func aRequestHeadMustArriveInTime() {
        var machine = Machine(limits: limits)
        #expect(machine.connectionStarted(now: start) == .schedule(at(10)))
        #expect(machine.timerFired(now: at(10)) == .close)
        // Nothing more happens on a closed connection.
        #expect(machine.requestPartReceived(head(), now: at(11)) == .none)
    }

    @Test func aBodyMayPauseUpToTheBodyLimitBetweenReads() {
        var machine = Machine(limits: limits)
        _ = machine.connectionStarted(now: start)
        // The head arrived: the deadline comes nearer, so the timer is armed again.
        #expect(machine.requestPartReceived(head(.POST), now: at(1)) == .schedule(at(6)))
        // Reads push the deadline on without touching the armed timer...
        #expect(machine.requestPartReceived(.body(ByteBuffer(string: "a")), now: at(4)) == .none)
        // ...which, firing early, is armed for the rest.
        #expect(machine.timerFired(now: at(6)) == .schedule(at(9)))
        // Stalled: a 408, then the connection closes.
        #expect(machine.timerFired(now: at(9)) == .respondAndClose(.requestTimeout))
    }

    @Test func noLimitWhileARequestIsAnswered() {
        var machine = Machine(limits: limits)
        _ = machine.connectionStarted(now: start)
        _ = machine.requestPartReceived(head(), now: at(1))
        // A long-poll: the request is whole; the answer may take as long as the application says.
        #expect(machine.requestPartReceived(.end(nil), now: at(1)) == .cancelTimer)
        #expect(machine.responsePartWritten(response(), now: at(100)) == .none)
        // Answered: the idle limit starts.
        #expect(machine.responsePartWritten(.end(nil), now: at(100)) == .schedule(at(120)))
        #expect(machine.timerFired(now: at(120)) == .close)
    }

    @Test func keepAliveRequestsFollowOneAnother() {
        var machine = Machine(limits: limits)
        _ = machine.connectionStarted(now: start)
        for round in Int64(0)..<3 {
            let time = round * 10
            _ = machine.requestPartReceived(head(), now: at(time + 1))
            _ = machine.requestPartReceived(.end(nil), now: at(time + 1))
            _ = machine.responsePartWritten(response(), now: at(time + 2))
            #expect(machine.responsePartWritten(.end(nil), now: at(time + 2)) == .schedule(at(time + 22)))
        }
    }

    @Test func anEarlyAnswerThenTheRestOfTheBodyLeavesTheConnectionIdle() {
        var machine = Machine(limits: limits)
        _ = machine.connectionStarted(now: start)
        _ = machine.requestPartReceived(head(.POST), now: at(1))
        _ = machine.responsePartWritten(response(.unauthorized), now: at(1))
        #expect(machine.responsePartWritten(.end(nil), now: at(1)) == .none)
        // The server reads the rest of the body, then waits for the next request.
        _ = machine.requestPartReceived(.body(ByteBuffer(string: "x")), now: at(2))
        #expect(machine.requestPartReceived(.end(nil), now: at(2)) == .none)
        #expect(machine.timerFired(now: at(6)) == .schedule(at(22)))
    }

    @Test(arguments: [
        (HTTPParserError.invalidHeaderToken, HTTPResponseStatus.badRequest),
        (.invalidContentLength, .badRequest),
        (.invalidMethod, .badRequest),
        (.headerOverflow, .requestHeaderFieldsTooLarge),
    ])
    func aRequestTheParserRefusesIsAnsweredAndClosed(error: HTTPParserError, status: HTTPResponseStatus) {
        var machine = Machine(limits: limits)
        _ = machine.connectionStarted(now: start)
        #expect(machine.parseFailed(error) == .respondAndClose(status))
        #expect(machine.timerFired(now: at(10)) == .none)
    }

    @Test func aBrokenPipelinedRequestIsAnsweredAfterTheResponseUnderWay() {
        var machine = Machine(limits: limits)
        _ = machine.connectionStarted(now: start)
        _ = machine.requestPartReceived(head(), now: at(1))
        _ = machine.requestPartReceived(.end(nil), now: at(1))
        _ = machine.responsePartWritten(response(), now: at(2))
        #expect(machine.parseFailed(.invalidHeaderToken) == .none)
        #expect(machine.responsePartWritten(.end(nil), now: at(3)) == .respondAndClose(.badRequest))
    }

    @Test func aBodyBrokenWhileBeingAnsweredClosesTheConnection() {
        var machine = Machine(limits: limits)
        _ = machine.connectionStarted(now: start)
        _ = machine.requestPartReceived(head(.POST), now: at(1))
        _ = machine.responsePartWritten(response(), now: at(1))
        #expect(machine.parseFailed(.invalidChunkSize) == .close)
    }

    @Test func informationalResponsesDoNotStartTheAnswer() {
        var machine = Machine(limits: limits)
        _ = machine.connectionStarted(now: start)
        _ = machine.requestPartReceived(head(.POST), now: at(1))
        _ = machine.responsePartWritten(response(.continue), now: at(1))
        #expect(machine.parseFailed(.invalidChunkSize) == .respondAndClose(.badRequest))
    }

    @Test func shutdownClosesIdleConnectionsAtOnceAndBusyOnesAfterTheirAnswer() {
        var idle = Machine(limits: limits)
        _ = idle.connectionStarted(now: start)
        #expect(idle.quiesce() == .close)

        var busy = Machine(limits: limits)
        _ = busy.connectionStarted(now: start)
        _ = busy.requestPartReceived(head(), now: at(1))
        _ = busy.requestPartReceived(.end(nil), now: at(1))
        #expect(busy.quiesce() == .none)
        _ = busy.responsePartWritten(response(), now: at(2))
        #expect(busy.responsePartWritten(.end(nil), now: at(2)) == .close)
    }
}

@Suite("HTTP connection guard: channel handler")
struct HTTPConnectionGuardHandlerTests {
    let limits = HTTPConnectionGuardStateMachine.Limits(
        requestHead: .seconds(10), requestBody: .seconds(5), idle: .seconds(20))

    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let loop = channel.embeddedEventLoop
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
        try channel.pipeline.syncOperations.addHandler(HTTPConnectionGuard(limits: limits, now: { loop.now }))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A\u{0}: b\r\n\r\n", "400"),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "400"),
        ("\u{16}\u{3}\u{1}\u{0}\u{a5}\u{1}\u{0}\u{0}\u{a1}\u{3}\u{3}", "400"),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400"),
        ("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 90_000) + "\r\n\r\n", "431"),
    ])
    func malformedRequestsAreAnsweredAndClosed(request: String, status: String) throws {
        let channel = try channel()
        _ = try? channel.writeInbound(ByteBuffer(string: request))
        #expect(try written(channel).hasPrefix("HTTP/1.1 \(status) "))
        #expect(!channel.isActive)
    }

    @Test func aSilentConnectionClosesAtTheHeadLimit() throws {
        let channel = try channel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func anIdleKeepAliveConnectionClosesAtTheIdleLimit() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        while try channel.readInbound(as: HTTPServerRequestPart.self) != nil {}
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        // Answering: no limit.
        #expect(channel.isActive)
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(19))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func bytesThatAreNotHTTPPartsPassThrough() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPConnectionGuard(limits: limits))
        try channel.writeInbound(ByteBuffer(string: "frame"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "frame"))
    }
}
