import Cloudinary
import Foundation
import Logging
import NIOCore
import Testing

@testable import ParleyTesting

/// The client against ``FakeCloudinary``: what it sends, and each way a call can fail.
@Suite("Cloudinary client")
struct CloudinaryClientTests {
    static func client(
        _ fake: FakeCloudinary,
        secret: String = FakeCloudinary.apiSecret,
        algorithm: CloudinarySignatureAlgorithm = .sha1,
        timeout: Duration = .seconds(5),
        attempts: Int = 3,
        clockSkew: Int64 = 0
    ) -> CloudinaryClient {
        CloudinaryClient(
            configuration: CloudinaryConfiguration(
                credentials: CloudinaryCredentials(
                    cloudName: FakeCloudinary.cloudName, apiKey: FakeCloudinary.apiKey, apiSecret: secret),
                uploadPrefix: fake.uploadPrefix + "/",
                signatureAlgorithm: algorithm,
                timeout: timeout,
                maximumAttempts: attempts,
                retryDelay: .milliseconds(20)
            ),
            logger: .silent,
            currentTime: { Int64(Date().timeIntervalSince1970) + clockSkew }
        )
    }

    static let image = ByteBuffer(bytes: TestImages.png)

    @Test(arguments: [CloudinarySignatureAlgorithm.sha1, .sha256])
    func uploadsASignedImageAndReadsTheAnswer(algorithm: CloudinarySignatureAlgorithm) async throws {
        try await FakeCloudinary.run { fake in
            let asset = try await Self.client(fake, algorithm: algorithm).upload(
                Self.image, options: CloudinaryUploadOptions(folder: "parley/tests", publicID: "avatar-1"))
            #expect(asset.publicID == "parley/tests/avatar-1")
            #expect(asset.secureURL.hasPrefix("https://res.cloudinary.com/\(FakeCloudinary.cloudName)/image/upload/"))
            #expect(asset.format == "png")
            let upload = try #require(fake.uploads.first)
            #expect(upload.bytes == TestImages.png)
            #expect(upload.fields["api_key"] == FakeCloudinary.apiKey)
            #expect(upload.fields["folder"] == "parley/tests")
            #expect(upload.signatureLength == (algorithm == .sha1 ? 40 : 64))
            let timestamp = try #require(upload.fields["timestamp"].flatMap { TimeInterval($0) })
            #expect(abs(timestamp - Date().timeIntervalSince1970) < 60)
        }
    }

    @Test func aWrongSecretIsRejectedWithCloudinarysMessage() async throws {
        try await FakeCloudinary.run { fake in
            let error = await #expect(throws: CloudinaryError.self) {
                try await Self.client(fake, secret: "not-the-secret").upload(Self.image)
            }
            #expect(error?.kind == .rejected(status: 401))
            #expect(error?.message.hasPrefix("Invalid Signature") == true)
            #expect(fake.requestCount == 1, "a 4xx is not retried")
            #expect(fake.uploads.isEmpty)
        }
    }

    @Test func aStaleTimestampIsRejected() async throws {
        try await FakeCloudinary.run { fake in
            let error = await #expect(throws: CloudinaryError.self) {
                try await Self.client(fake, clockSkew: -7200).upload(Self.image)
            }
            #expect(error?.kind == .rejected(status: 400))
            #expect(error?.message.hasPrefix("Stale request") == true)
        }
    }

    @Test func aFileCloudinaryRefusesIsRejected() async throws {
        try await FakeCloudinary.run { fake in
            let error = await #expect(throws: CloudinaryError.self) {
                try await Self.client(fake).upload(ByteBuffer(string: "not an image"))
            }
            #expect(error == CloudinaryError(.rejected(status: 400), message: "Invalid image file"))
        }
    }

    @Test func serverErrorsAreRetriedThenSucceed() async throws {
        try await FakeCloudinary.run { fake in
            fake.script(.status(500, message: "Internal error"), .status(503, message: nil))
            let asset = try await Self.client(fake).upload(Self.image, options: .init(publicID: "retried"))
            #expect(asset.publicID == "retried")
            #expect(fake.requestCount == 3)
            #expect(fake.uploads.count == 1, "the retries name the same asset")
        }
    }

    @Test func persistentServerErrorsFailAfterTheLastAttempt() async throws {
        try await FakeCloudinary.run { fake in
            fake.script(.status(502, message: nil), .status(500, message: "a"), .status(429, message: "slow down"))
            let error = await #expect(throws: CloudinaryError.self) {
                try await Self.client(fake, attempts: 3).upload(Self.image)
            }
            #expect(error == CloudinaryError(.failed(status: 429), message: "slow down"))
            #expect(fake.requestCount == 3)
        }
    }

    @Test func aSlowAnswerTimesOut() async throws {
        try await FakeCloudinary.run { fake in
            fake.script(.delay(.seconds(3)))
            let start = ContinuousClock.now
            let error = await #expect(throws: CloudinaryError.self) {
                try await Self.client(fake, timeout: .milliseconds(300)).upload(Self.image)
            }
            #expect(error?.kind == .timedOut)
            #expect(ContinuousClock.now - start < .seconds(2))
        }
    }

    @Test func anUnreachableCloudinaryIsReportedAfterRetries() async throws {
        // Nothing listens on port 1.
        let client = CloudinaryClient(
            configuration: CloudinaryConfiguration(
                credentials: CloudinaryCredentials(cloudName: "c", apiKey: "k", apiSecret: "s"),
                uploadPrefix: "http://127.0.0.1:1",
                timeout: .seconds(1),
                maximumAttempts: 2,
                retryDelay: .milliseconds(10)
            ),
            logger: .silent
        )
        let error = await #expect(throws: CloudinaryError.self) { try await client.upload(Self.image) }
        #expect(error?.kind == .unreachable)
    }

    @Test func destroyIsSignedAndReportsMissingAssets() async throws {
        try await FakeCloudinary.run { fake in
            let client = Self.client(fake)
            let asset = try await client.upload(Self.image, options: .init(folder: "a b&c", publicID: "x/y"))
            #expect(try await client.destroy(publicID: asset.publicID) == .deleted)
            #expect(try await client.destroy(publicID: asset.publicID) == .notFound)
            #expect(fake.destroyed == ["a b&c/x/y", "a b&c/x/y"])
        }
    }
}
