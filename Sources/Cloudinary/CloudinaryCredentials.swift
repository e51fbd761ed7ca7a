/// Which Cloudinary account to use: the cloud's name, and the key pair that signs requests.
public struct CloudinaryCredentials: Sendable, Hashable {
    public var cloudName: String
    public var apiKey: String
    public var apiSecret: String

    public init(cloudName: String, apiKey: String, apiSecret: String) {
        self.cloudName = cloudName
        self.apiKey = apiKey
        self.apiSecret = apiSecret
    }
}

extension CloudinaryCredentials: CustomStringConvertible, CustomDebugStringConvertible {
    /// Names the cloud and the key, never the secret.
    public var description: String { "cloud \(cloudName), API key \(apiKey)" }
    public var debugDescription: String { description }
}
