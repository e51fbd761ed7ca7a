import Crypto
import Foundation

/// JWTs made by hand, as other libraries (PyJWT, jsonwebtoken) write them, for tests of what the
/// server accepts and refuses.
enum TestTokens {
    static func base64URL(_ part: Substring) -> Data {
        var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)!
    }

    static func encode(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func sign(_ header: [String: Any], _ claims: [String: Any], secret: String) -> String {
        let input = encode(header) + "." + encode(claims)
        let key = SymmetricKey(data: Data(secret.utf8))
        let signature: Data =
            header["alg"] as? String == "HS512"
            ? Data(HMAC<SHA512>.authenticationCode(for: Data(input.utf8), using: key))
            : Data(HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: key))
        return input + "."
            + signature.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func unsigned(_ header: [String: Any], _ claims: [String: Any]) -> String {
        encode(header) + "." + encode(claims) + "."
    }
}
