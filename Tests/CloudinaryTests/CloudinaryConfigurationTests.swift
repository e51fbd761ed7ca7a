import Cloudinary
import Testing

@testable import ParleyTesting

@Suite("Cloudinary configuration")
struct CloudinaryConfigurationTests {
    @Test func readsCloudinarysURLForm() throws {
        let configuration = try CloudinaryConfiguration(url: "cloudinary://123456:s%40cret@my-cloud")
        #expect(
            configuration.credentials
                == CloudinaryCredentials(cloudName: "my-cloud", apiKey: "123456", apiSecret: "s@cret"))
        #expect(configuration.uploadPrefix == "https://api.cloudinary.com")
        #expect(configuration.signatureAlgorithm == .sha1)
    }

    @Test func readsTheSDKQueryOptions() throws {
        let configuration = try CloudinaryConfiguration(
            url:
                "cloudinary://k:s@c?upload_prefix=https%3A%2F%2Fapi-eu.cloudinary.com%2F&signature_algorithm=sha256&secure=true"
        )
        #expect(configuration.uploadPrefix == "https://api-eu.cloudinary.com")
        #expect(configuration.signatureAlgorithm == .sha256)
    }

    @Test(arguments: [
        ("https://k:s@c", "must start with cloudinary://"),
        ("cloudinary://k:s", "has no @CLOUD_NAME"),
        ("cloudinary://k@c", "has no API secret"),
        ("cloudinary://:s@c", "has an empty API key"),
        ("cloudinary://k:@c", "has an empty API secret"),
        ("cloudinary://k:s@", "has an empty cloud name"),
        ("cloudinary://k:s@my/cloud", "may hold only letters"),
        ("cloudinary://k:s@c?signature_algorithm=md5", "sha1 or sha256"),
        ("cloudinary://k:s@c?upload_prefix=ftp://x", "must be an http(s) URL"),
    ])
    func refusesWhatCannotWork(url: String, expected: String) {
        #expect {
            try CloudinaryConfiguration(url: url)
        } throws: { error in
            let message = (error as? CloudinaryConfigurationError)?.message ?? ""
            return message.contains(expected) && !message.contains("secret-value")
        }
    }

    @Test func neverPrintsTheSecret() throws {
        let configuration = try CloudinaryConfiguration(url: "cloudinary://key:secret-value@cloud")
        #expect(!"\(configuration.credentials)".contains("secret-value"))
    }
}

extension CloudinaryConfigurationTests {
    @Test func neverPrintsTheSecretWhenTheWholeConfigurationIsPrinted() throws {
        let configuration = try CloudinaryConfiguration(url: "cloudinary://key:secret-value@cloud")
        #expect(!"\(configuration)".contains("secret-value"))
        #expect(!String(reflecting: configuration).contains("secret-value"))
    }
}
