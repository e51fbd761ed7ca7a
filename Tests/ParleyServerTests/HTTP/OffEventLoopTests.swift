import EventLoopExecutor
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import ParleyServer

/// Routes whose answers grow with the data run off their connection's event loop.
@Suite("Off the event loop")
struct OffEventLoopTests {
    @Test func theRouteBehindItRunsOffTheConnectionsLoop() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let request = Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/api/conversations"),
            body: RequestBody(buffer: ByteBuffer()))
        let context = BasicRequestContext(source: .init(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        let (before, inside, after) = try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            let before = loop.inEventLoop
            let response = try await OffEventLoop<BasicRequestContext>().handle(request, context: context) { _, _ in
                Response(status: MultiThreadedEventLoopGroup.currentEventLoop == nil ? .ok : .internalServerError)
            }
            return (before, response.status, loop.inEventLoop)
        }
        #expect(before, "the connection's task ran on its loop")
        #expect(inside == .ok, "the route ran on an event loop")
        #expect(after, "back on the loop for the answer")
    }

    /// Behind the body limit, an image-sized body is read and decoded off the loop, an everyday
    /// one on it (no hop).
    @Test func onlyLargeBodiesMoveBehindABodyLimit() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let context = BasicRequestContext(source: .init(channel: EmbeddedChannel(), logger: Logger(label: "test")))
        func ranOnLoop(_ fields: HTTPFields) async throws -> Bool {
            var head = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/api/message")
            head.headerFields = fields
            let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
            return try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
                let response = try await OffEventLoop<BasicRequestContext>(forBodiesOver: 65_536).handle(
                    request, context: context
                ) { _, _ in
                    Response(status: loop.inEventLoop ? .ok : .accepted)
                }
                return response.status == .ok
            }
        }
        #expect(try await ranOnLoop([.contentLength: "300"]))
        #expect(try await ranOnLoop([:]))
        #expect(try await !ranOnLoop([.contentLength: "7000000"]))
        #expect(try await !ranOnLoop([.transferEncoding: "chunked"]))
        #expect(try await !ranOnLoop([.contentLength: "not a number"]))
    }

    /// A socket's handler decodes an inline image off its loop only when the image is large.
    @Test func workMovesOnlyWhenAsked() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let (small, large) = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            let small = await offEventLoop(if: false) { loop.inEventLoop }
            let large = await offEventLoop(if: true) { MultiThreadedEventLoopGroup.currentEventLoop == nil }
            return (small, large)
        }
        #expect(small, "stayed on the loop")
        #expect(large, "ran off the event loops")
    }
}
