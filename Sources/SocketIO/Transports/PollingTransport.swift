import HTTPTypes
import Hummingbird
import NIOCore

/// HTTP long-polling: the handshake GET, polls (GET) and data (POST), answered as the reference
/// server answers them.
extension EngineIOServer {
    /// Answers an HTTP request to this server's path. `channel` is the request's connection: a
    /// poll whose client goes away closes its session.
    public func respond(to request: Request, channel: any Channel) async -> Response {
        var response = await answer(request, channel: channel)
        // A WebSocket upgrade can only happen on a connection's first request (NIO's upgrader
        // steps aside after it), and clients that pool connections (aiohttp, so python-socketio's
        // AsyncClient) would send the upgrade on an idle polling connection and fail. Closing
        // polling connections leaves them none to reuse. Without WebSocket, keep-alive stays,
        // unless the client asked to close.
        if configuration.allowWebSocket || request.headers[.connection]?.lowercased().contains("close") == true {
            response.headers[.connection] = "close"
        }
        return response
    }

    private func answer(_ request: Request, channel: any Channel) async -> Response {
        let query = Self.query(of: request.uri)
        let validation = await validate(
            method: request.method,
            query: query,
            isUpgrade: false,
            request: EngineRequest(
                method: request.method,
                authority: request.head.authority,
                path: request.uri.path,
                query: query,
                headers: request.headers,
                remoteAddress: channel.remoteAddress,
                isWebSocket: false
            )
        )
        switch validation {
        case .failure(let denial):
            return Self.errorResponse(denial)
        case .success(.handshake(_, let binding)):
            let handshake = EngineHandshake(
                headers: request.headers, query: query, remoteAddress: channel.remoteAddress)
            let open = channel.eventLoop.submit {
                let session = self.openSession(
                    transport: .polling,
                    handshake: handshake,
                    binding: binding,
                    eventLoop: channel.eventLoop,
                    webSocket: nil
                )
                return self.openPacket(for: session, transport: .polling)
            }
            guard let packet = try? await open.get() else { return Self.errorResponse(EngineDenial(.badRequest)) }
            return Self.payloadResponse([packet])
        case .success(.session(let session)):
            switch request.method {
            case .get:
                return await poll(session, channel: channel)
            case .post:
                return await post(request, to: session)
            default:
                return Self.errorResponse(EngineDenial(.badRequest))
            }
        }
    }

    private func poll(_ session: EngineSession, channel: any Channel) async -> Response {
        let outcome = try? await session.poll(on: channel).get()
        switch outcome {
        case .packets(let packets):
            return Self.payloadResponse(packets)
        case .error(let error):
            return Self.errorResponse(EngineDenial(error))
        case .duplicate, nil:
            return Response(status: .badRequest)
        }
    }

    private func post(_ request: Request, to session: EngineSession) async -> Response {
        switch try? await session.postStarted().get() {
        case .accept:
            break
        case .reject(let error):
            return Self.errorResponse(EngineDenial(error))
        case .rejectOverlap, nil:
            return Response(status: .badRequest)
        }
        // Engine.IO v4 payloads are always text; binary content means a broken or foreign client.
        if let contentType = request.headers[.contentType],
            contentType.lowercased().hasPrefix("application/octet-stream")
        {
            session.postFailed(closeSession: true)
            return Response(status: .badRequest)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.maxPayload)
        } catch is NIOTooManyBytesError {
            session.postFailed(closeSession: false)
            return Response(status: .contentTooLarge)
        } catch {
            session.postFailed(closeSession: false)
            return Response(status: .badRequest)
        }
        let (packets, error) = EnginePayload.decode(body)
        try? await session.postReceived(packets, invalid: error != nil).get()
        return Response(
            status: .ok,
            headers: [.contentType: "text/html", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: "ok"))
        )
    }

    static func payloadResponse(_ packets: [EnginePacket]) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; charset=UTF-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: EnginePayload.encode(packets))
        )
    }

    static func errorResponse(_ denial: EngineDenial) -> Response {
        Response(
            status: denial.status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: denial.error.body(message: denial.message)))
        )
    }
}
