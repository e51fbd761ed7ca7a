import HTTPTypes
import Hummingbird
import NIOCore

/// The address a request came from: the TCP peer, or (behind a trusted proxy) the last
/// `X-Forwarded-For` entry, the one that proxy appended.
enum ClientAddress {
    static func of(_ request: Request, context: ParleyRequestContext, trustProxy: Bool) -> String {
        of(headers: request.headers, peer: context.remoteAddress, trustProxy: trustProxy)
    }

    static func of(headers: HTTPFields, peer: SocketAddress?, trustProxy: Bool) -> String {
        if trustProxy, let forwarded = headers[.xForwardedFor], let last = forwarded.split(separator: ",").last {
            let address = String(last).trimmingCharacters(in: " ")
            if !address.isEmpty { return address }
        }
        return peer?.ipAddress ?? "unknown"
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
