import Crypto
import ParleyChat
import ParleyDomain
import SocketIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The private session id (`pid`) of a recoverable socket: its socket id and its user, signed
/// with a key derived from the JWT secret, `<sid>.<user>.<mac>`. Any instance of the cluster
/// recognises it without having kept anything, after the instance that issued it died too; a
/// forged or altered one is unknown, and one issued to another user is refused.
struct RecoverySessionID: Hashable, Sendable {
    let sid: String
    let user: ObjectID

    /// Signs and checks session ids.
    struct Signer: Sendable {
        private let key: SymmetricKey

        init(secret: String) {
            // Its own key, so a pid is never a MAC the token signer would also make.
            let derived = HMAC<SHA256>.authenticationCode(
                for: Array("parley socket session id".utf8), using: SymmetricKey(data: Array(secret.utf8)))
            key = SymmetricKey(data: Array(derived))
        }

        func encode(_ id: RecoverySessionID) -> String {
            "\(id.sid).\(id.user.hexString).\(mac(sid: id.sid, user: id.user.hexString))"
        }

        /// The pid of `socket`, naming its user (every socket that gets as far as being given
        /// one was authenticated; without a user, no one could use it).
        func sessionID(for socket: Socket) -> String {
            encode(RecoverySessionID(sid: socket.id, user: socket[data: SocketSession.self]?.userID ?? ObjectID()))
        }

        /// The session a pid names, `nil` unless it is one this cluster signed.
        func decode(_ pid: String) -> RecoverySessionID? {
            let parts = pid.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            guard parts.count == 3, (1...64).contains(parts[0].count), parts[2].count == 32,
                parts[0].allSatisfy(Self.isSessionIDByte),
                let sid = String(parts[0]), let userText = String(parts[1]), let user = ObjectID(userText),
                let given = String(parts[2])
            else { return nil }
            let expected = mac(sid: sid, user: userText)
            // Compared in constant time.
            let difference = zip(expected.utf8, given.utf8).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) }
            guard difference == 0 else { return nil }
            return RecoverySessionID(sid: sid, user: user)
        }

        private func mac(sid: String, user: String) -> String {
            let code = HMAC<SHA256>.authenticationCode(for: Array("\(sid).\(user)".utf8), using: key)
            return code.prefix(16).map { byte in
                let hex = Array("0123456789abcdef".utf8)
                return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]], as: UTF8.self)
            }.joined()
        }

        /// Socket ids are base64url.
        private static func isSessionIDByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                true
            default: false
            }
        }
    }
}
