import ParleyDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The opaque `cursor` of contact pages: a ``SidebarPosition`` in base64url, so clients pass it
/// back without reading it.
package enum SidebarCursor {
    package static func encode(_ position: SidebarPosition) -> String {
        let plain =
            switch position {
            case .conversation(let sequence): "c:\(sequence)"
            case .conversationByMessage(let id): "m:\(id.hexString)"
            case .user(let name, let id): "u:\(id.hexString):\(name)"
            }
        return Data(plain.utf8).base64URLEncodedString
    }

    package static func decode(_ cursor: String) throws -> SidebarPosition {
        guard cursor.utf8.count <= 4096, let data = Data(base64URLEncoded: Substring(cursor)),
            let plain = String(data: data, encoding: .utf8)
        else { throw invalid }
        let parts = plain.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        switch parts.first {
        case "c":
            guard parts.count == 2, let sequence = Int64(parts[1]), sequence > 0 else { throw invalid }
            return .conversation(lastSequence: sequence)
        case "m":
            guard parts.count == 2, let id = ObjectID(parts[1]) else { throw invalid }
            return .conversationByMessage(lastMessageID: id)
        case "u":
            guard parts.count == 3, let id = ObjectID(parts[1]) else { throw invalid }
            return .user(name: String(parts[2]), id: id)
        default:
            throw invalid
        }
    }

    private static let invalid = ParleyError.invalidField("cursor", "cursor must be a value a previous page returned")
}
